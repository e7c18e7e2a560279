// Makes the sttn opaque-API operators run inside the Python interpreter of
// ai-edge-litert (InterpreterWithCustomOps), which hands a custom-op
// registerer its tflite::MutableOpResolver* but exports no AddCustom and no
// opaque C API:
//
// 1. Each TfLiteOperator (export/tflite) is adapted to a classic
//    TfLiteRegistration whose callbacks are per-slot trampolines into the
//    operator's callbacks (registration_external stays null, so the runtime
//    calls the classic fields).
// 2. Registration chains our own resolver object, whose vtable follows
//    tflite::OpResolver's, into the MutableOpResolver's list of chained
//    resolvers (`other_op_resolvers_`, a std::vector<const OpResolver*>),
//    which MutableOpResolver::FindOp consults after its own maps. The class
//    layout is private, so before writing anything the members around that
//    vector are probed for plausibility; afterwards the runtime's own virtual
//    FindOp(name, 1) must return our registration for every op, else the
//    change is undone and an error is returned (never a crash later).
// 3. At each Prepare, the runtime's tensor/context layout is checked against
//    our declarations before the kernel touches anything.
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <utility>
#include <vector>

#include "export/host/abi.h"
#include "export/host/operator.h"
#include "export/tflite/sttn_ops.h"

namespace sttn {
namespace host {
namespace {

constexpr int kNumKernelTypes = sttn::tflite::kNumKernelTypes;
constexpr int kMaxOps = 8;
constexpr int kNumSlots = kNumKernelTypes * kMaxOps;

struct Slot {
  const TfLiteOperator* op = nullptr;
  abi::PaddedRegistration padded = {};
};

Slot g_slots[kNumSlots];

// ---------------------------------------------------------------------------
// Run-time layout check of what the runtime passes to Prepare.

bool PlausibleIntArray(const TfLiteIntArray* a) {
  return a != nullptr && a->size >= 0 && a->size <= (1 << 16);
}

size_t ElementSize(int type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32:
      return 4;
    case kTfLiteUInt8:
    case kTfLiteInt8:
      return 1;
    case kTfLiteInt64:
      return 8;
    default:
      return 0;
  }
}

bool PlausibleTensor(const abi::Tensor& t) {
  if (t.type < 0 || t.type > 32) return false;
  if (t.allocation_type < 0 || t.allocation_type > 16) return false;
  if (t.dims == nullptr) return true;  // not yet shaped
  if (!PlausibleIntArray(t.dims) || t.dims->size > 16) return false;
  const size_t elem = ElementSize(t.type);
  if (elem == 0 || t.data == nullptr) return true;
  size_t n = 1;
  for (int i = 0; i < t.dims->size; ++i) {
    if (t.dims->data[i] < 0) return true;  // unknown dim: nothing to compare
    n *= static_cast<size_t>(t.dims->data[i]);
  }
  return t.bytes == n * elem;
}

// Checks context and node as seen through abi::*; reports and fails on a
// mismatch, which means the runtime is not the ABI this host layer targets.
bool CheckRuntimeLayout(abi::Context* ctx, abi::Node* node, const char* op) {
  bool ok = ctx != nullptr && node != nullptr && ctx->tensors != nullptr &&
            ctx->ResizeTensor != nullptr && ctx->ReportError != nullptr &&
            ctx->tensors_size > 0 && ctx->tensors_size < (size_t{1} << 31) &&
            PlausibleIntArray(node->inputs) && PlausibleIntArray(node->outputs);
  if (ok && ctx->GetTensor != nullptr) {
    // Where the runtime offers GetTensor it must agree with our indexing.
    for (int i = 0; ok && i < node->inputs->size; ++i) {
      const int t = node->inputs->data[i];
      if (t >= 0 && static_cast<size_t>(t) < ctx->tensors_size) {
        ok = ctx->GetTensor(ctx, t) == &ctx->tensors[t];
      }
    }
  }
  for (int pass = 0; ok && pass < 2; ++pass) {
    const TfLiteIntArray* idx = pass == 0 ? node->inputs : node->outputs;
    for (int i = 0; ok && i < idx->size; ++i) {
      const int t = idx->data[i];
      if (t < 0) continue;  // optional tensor
      ok = static_cast<size_t>(t) < ctx->tensors_size &&
           PlausibleTensor(ctx->tensors[t]);
    }
  }
  if (!ok && ctx != nullptr && ctx->ReportError != nullptr) {
    ctx->ReportError(ctx,
                     "%s: the TFLite runtime's TfLiteContext/TfLiteTensor "
                     "layout does not match the sttn host layer (built for "
                     "the ai-edge-litert range of "
                     "sttn_keras/export/runtime_versions.py); refusing to run",
                     op);
  }
  return ok;
}

// ---------------------------------------------------------------------------
// Trampolines: classic callbacks -> the slot's TfLiteOperator callbacks.

template <int S>
void* InitTrampoline(abi::Context* ctx, const char* buffer, size_t length) {
  const TfLiteOperator* op = g_slots[S].op;
  return op->init ? op->init(reinterpret_cast<TfLiteOpaqueContext*>(ctx),
                             buffer, length)
                  : nullptr;
}

template <int S>
void FreeTrampoline(abi::Context* ctx, void* data) {
  const TfLiteOperator* op = g_slots[S].op;
  if (op->free) op->free(reinterpret_cast<TfLiteOpaqueContext*>(ctx), data);
}

template <int S>
TfLiteStatus PrepareTrampoline(abi::Context* ctx, abi::Node* node) {
  const TfLiteOperator* op = g_slots[S].op;
  if (!CheckRuntimeLayout(ctx, node, op->custom_name)) return kTfLiteError;
  if (!op->prepare) return kTfLiteOk;
  return op->prepare(reinterpret_cast<TfLiteOpaqueContext*>(ctx),
                     reinterpret_cast<TfLiteOpaqueNode*>(node));
}

template <int S>
TfLiteStatus InvokeTrampoline(abi::Context* ctx, abi::Node* node) {
  const TfLiteOperator* op = g_slots[S].op;
  if (!op->invoke) return kTfLiteError;
  return op->invoke(reinterpret_cast<TfLiteOpaqueContext*>(ctx),
                    reinterpret_cast<TfLiteOpaqueNode*>(node));
}

template <int... S>
void FillSlots(std::integer_sequence<int, S...>) {
  using InitFn = void* (*)(abi::Context*, const char*, size_t);
  using FreeFn = void (*)(abi::Context*, void*);
  using StepFn = TfLiteStatus (*)(abi::Context*, abi::Node*);
  static const InitFn inits[] = {InitTrampoline<S>...};
  static const FreeFn frees[] = {FreeTrampoline<S>...};
  static const StepFn prepares[] = {PrepareTrampoline<S>...};
  static const StepFn invokes[] = {InvokeTrampoline<S>...};
  const int num_ops = sttn_tflite_num_ops();
  for (int s = 0; s < kNumSlots; ++s) {
    const int kernel = s / kMaxOps;
    const int index = s % kMaxOps;
    if (index >= num_ops) continue;
    const TfLiteOperator* op = sttn_tflite_operator(index, kernel);
    if (op == nullptr) continue;
    g_slots[s].op = op;
    abi::Registration& r = g_slots[s].padded.reg;
    r.init = inits[s];
    r.free = frees[s];
    r.prepare = prepares[s];
    r.invoke = invokes[s];
    r.profiling_string = nullptr;
    r.builtin_code = kTfLiteBuiltinCustom;
    r.custom_name = op->custom_name;
    r.version = op->version;
    r.registration_external = nullptr;
    r.async_kernel = nullptr;
    r.inplace_operator = 0;
  }
}

int RecommendedThreads(const TfLiteOpaqueContext* context);

void EnsureSlots() {
  static std::once_flag once;
  std::call_once(once, [] {
    FillSlots(std::make_integer_sequence<int, kNumSlots>());
    sttn::tflite::SetNumThreadsQuery(RecommendedThreads);
  });
}

// ---------------------------------------------------------------------------
// Our resolver, vtable-compatible with tflite::OpResolver (slot order in
// abi.h). Only FindOp and MayContainUserDefinedOps are ever called on a
// chained resolver; the others return empty vectors (same ABI: a 24-byte
// non-trivial class returned through a hidden pointer).
class ChainedResolver {
 public:
  explicit ChainedResolver(int kernel_type) : kernel_type_(kernel_type) {}
  virtual const abi::Registration* FindOp(int32_t /*builtin_op*/,
                                          int /*version*/) const {
    return nullptr;
  }
  virtual const abi::Registration* FindOp(const char* name, int version) const {
    if (name == nullptr || version != 1) return nullptr;
    for (int i = 0; i < kMaxOps; ++i) {
      const Slot& slot = g_slots[kernel_type_ * kMaxOps + i];
      if (slot.op != nullptr && std::strcmp(slot.op->custom_name, name) == 0) {
        return &slot.padded.reg;
      }
    }
    return nullptr;
  }
  virtual std::vector<void*> GetDelegates(int /*num_threads*/) const {
    return {};
  }
  virtual std::vector<void*> GetDelegateCreators() const { return {}; }
  virtual std::vector<void*> GetOpaqueDelegateCreators() const { return {}; }
  virtual ~ChainedResolver() = default;
  virtual bool MayContainUserDefinedOps() const { return true; }

 private:
  // Mirrors OpResolver's registration_externals_cache_ (a null shared_ptr).
  void* externals_cache_[2] = {nullptr, nullptr};
  int kernel_type_;
};

ChainedResolver* ResolverFor(int kernel_type) {
  static ChainedResolver resolvers[kNumKernelTypes] = {
      ChainedResolver(0), ChainedResolver(1), ChainedResolver(2),
      ChainedResolver(3), ChainedResolver(4), ChainedResolver(5),
      ChainedResolver(6)};
  static_assert(kNumKernelTypes == 7, "one resolver per kernel type");
  return &resolvers[kernel_type];
}

// The sttn kernels' thread count: the interpreter's (classic context).
int RecommendedThreads(const TfLiteOpaqueContext* context) {
  return context == nullptr ? 1
                            : reinterpret_cast<const abi::Context*>(context)
                                  ->recommended_num_threads;
}

// ---------------------------------------------------------------------------
// Probing the runtime's MutableOpResolver.

uintptr_t Word(const unsigned char* base, size_t offset) {
  uintptr_t w;
  std::memcpy(&w, base + offset, sizeof(w));
  return w;
}

bool ProbeVector(const unsigned char* obj, size_t offset, size_t elem) {
  const uintptr_t b = Word(obj, offset), e = Word(obj, offset + 8),
                  c = Word(obj, offset + 16);
  if (b == 0) return e == 0 && c == 0;
  return b % alignof(void*) == 0 && b <= e && e <= c && (e - b) % elem == 0 &&
         (c - b) % elem == 0 && (c - b) / elem < (size_t{1} << 20);
}

bool ProbeHashtable(const unsigned char* obj, size_t offset) {
  const uintptr_t buckets = Word(obj, offset);
  const uintptr_t bucket_count = Word(obj, offset + 8);
  const uintptr_t before_begin = Word(obj, offset + 16);
  const uintptr_t elements = Word(obj, offset + 24);
  float max_load;
  std::memcpy(&max_load, obj + offset + abi::kHashtableLoadFactorOffset,
              sizeof(max_load));
  if (buckets == 0 || buckets % alignof(void*) != 0) return false;
  if (bucket_count < 1 || bucket_count > (uintptr_t{1} << 32)) return false;
  if (bucket_count == 1 &&
      buckets != reinterpret_cast<uintptr_t>(
                     obj + offset + abi::kHashtableSingleBucketOffset)) {
    return false;
  }
  if (!(max_load > 0.0f && max_load <= 16.0f)) return false;
  if (elements > (uintptr_t{1} << 24)) return false;
  if ((elements == 0) != (before_begin == 0)) return false;
  return true;
}

bool ProbeMutableOpResolver(const unsigned char* obj, char* why,
                            size_t why_size) {
  const char* failed = nullptr;
  if (Word(obj, 0) == 0 || Word(obj, 0) % alignof(void*) != 0) {
    failed = "vtable pointer";
  } else if (obj[abi::kMutableResolverFlagOffset] > 1) {
    failed = "may_directly_contain_user_defined_ops_";
  } else if (!ProbeVector(obj, abi::kMutableResolverDelegateCreatorsOffset,
                          abi::kStdFunctionSize)) {
    failed = "delegate_creators_";
  } else if (!ProbeVector(obj,
                          abi::kMutableResolverOpaqueDelegateCreatorsOffset,
                          abi::kStdFunctionSize)) {
    failed = "opaque_delegate_creators_";
  } else if (!ProbeHashtable(obj, abi::kMutableResolverBuiltinsOffset)) {
    failed = "builtins_";
  } else if (!ProbeHashtable(obj, abi::kMutableResolverCustomOpsOffset)) {
    failed = "custom_ops_";
  } else if (!ProbeVector(obj, abi::kMutableResolverChainOffset,
                          sizeof(void*))) {
    failed = "other_op_resolvers_";
  }
  if (failed != nullptr) {
    std::snprintf(why, why_size,
                  "the runtime's tflite::MutableOpResolver does not have the "
                  "expected layout (member %s)",
                  failed);
    return false;
  }
  return true;
}

// Calls the runtime's virtual FindOp(const char*, int) (Itanium ABI: `this`
// first, then the arguments).
const void* RuntimeFindCustomOp(const void* resolver, const char* name,
                                int version) {
  using FindFn = const void* (*)(const void*, const char*, int);
  FindFn const* vtable = *reinterpret_cast<FindFn const* const*>(resolver);
  return vtable[abi::kFindCustomOpSlot](resolver, name, version);
}

std::mutex g_register_mutex;

void SetError(char* error, size_t error_size, const char* format, ...) {
  if (error == nullptr || error_size == 0) return;
  va_list args;
  va_start(args, format);
  std::vsnprintf(error, error_size, format, args);
  va_end(args);
}

}  // namespace
}  // namespace host
}  // namespace sttn

extern "C" {

// Registers every sttn op, in `kernel_type` (sttn::tflite::KernelType), into
// the tflite::MutableOpResolver at `op_resolver` and verifies the result
// through the runtime's own FindOp. Returns 0 on success; otherwise nonzero,
// leaves the resolver as it was and writes a message to `error`.
STTN_API int sttn_host_register(uintptr_t op_resolver, int kernel_type,
                                char* error, size_t error_size) {
  using namespace sttn::host;  // NOLINT
  if (op_resolver == 0 || op_resolver % alignof(void*) != 0) {
    SetError(error, error_size, "null or misaligned op resolver pointer");
    return 1;
  }
  if (kernel_type < 0 || kernel_type >= kNumKernelTypes) {
    SetError(error, error_size, "unknown kernel type %d", kernel_type);
    return 1;
  }
  if (!sttn_kernel_type_supported(kernel_type)) {
    SetError(error, error_size,
             "kernel type %s is not supported by this CPU or build",
             sttn_kernel_type_name(kernel_type));
    return 1;
  }
  EnsureSlots();
  const int num_ops = sttn_tflite_num_ops();
  for (int i = 0; i < num_ops; ++i) {
    if (g_slots[kernel_type * kMaxOps + i].op == nullptr) {
      SetError(error, error_size, "operator %s could not be created",
               sttn_tflite_op_name(i));
      return 1;
    }
  }
  std::lock_guard<std::mutex> lock(g_register_mutex);
  unsigned char* obj = reinterpret_cast<unsigned char*>(op_resolver);
  char why[256];
  if (!ProbeMutableOpResolver(obj, why, sizeof(why))) {
    SetError(error, error_size, "%s", why);
    return 2;
  }
  const void* ours = ResolverFor(kernel_type);
  auto* chain = reinterpret_cast<std::vector<const void*>*>(
      obj + abi::kMutableResolverChainOffset);
  bool pushed = false;
  bool present = false;
  for (const void* p : *chain) present = present || p == ours;
  if (!present) {
    chain->push_back(ours);
    pushed = true;
  }
  // Verification through the runtime's own lookup.
  const char* bad = nullptr;
  for (int i = 0; i < num_ops && bad == nullptr; ++i) {
    const Slot& slot = g_slots[kernel_type * kMaxOps + i];
    if (RuntimeFindCustomOp(obj, slot.op->custom_name, 1) != &slot.padded.reg) {
      bad = slot.op->custom_name;
    }
  }
  if (bad == nullptr &&
      RuntimeFindCustomOp(obj, "SttnNoSuchOpForVerification", 1) != nullptr) {
    bad = "SttnNoSuchOpForVerification";
  }
  if (bad != nullptr) {
    if (pushed && !chain->empty() && chain->back() == ours) chain->pop_back();
    SetError(error, error_size,
             "registration verification failed: the runtime's "
             "OpResolver::FindOp(\"%s\", 1) does not return the sttn "
             "registration (another op of that name registered first, or a "
             "runtime ABI this host layer does not support)",
             bad);
    return 3;
  }
  return 0;
}

// Returns 1 + kernel_type if the runtime resolver at `op_resolver` resolves
// `name` (version 1) to one of our registrations, 0 if to something else or
// nothing.
STTN_API int sttn_host_lookup(uintptr_t op_resolver, const char* name) {
  using namespace sttn::host;  // NOLINT
  if (op_resolver == 0 || name == nullptr) return 0;
  EnsureSlots();
  const void* found =
      RuntimeFindCustomOp(reinterpret_cast<const void*>(op_resolver), name, 1);
  for (int s = 0; s < kNumSlots; ++s) {
    if (g_slots[s].op != nullptr && found == &g_slots[s].padded.reg) {
      return 1 + s / kMaxOps;
    }
  }
  return 0;
}

}  // extern "C"
