// Registration of the sttn custom ops (sttn_ops.h): one TfLiteOperator per op
// and kernel type, whose Init parses the options (options.cc), whose Prepare
// and Invoke dispatch to the op's family (ternarize.cc, conv_like.cc,
// fully_connected.cc), and the extern "C" API with the thread count and the
// per-op profile counters. Nothing here aborts: every failure is reported
// through the context and returns kTfLiteError. The layout of export/tflite/
// and where a new op or kernel type goes: docs/kernels.md.
#include "export/tflite/sttn_ops.h"

#include <atomic>
#include <chrono>
#include <new>

#include "export/core/isa.h"
#include "export/tflite/conv_like.h"
#include "export/tflite/fully_connected.h"
#include "export/tflite/op_data.h"
#include "export/tflite/options.h"
#include "export/tflite/ternarize.h"

namespace sttn {
namespace tflite {
namespace {

using internal::OpData;
using internal::OpKind;
using internal::OpName;

// The ISA path of an optimized kernel type (kReference has none).
core::Isa IsaFor(KernelType k) {
  switch (k) {
    case kPortable:
      return core::Isa::kPortable;
    case kPopcnt:
      return core::Isa::kPopcnt;
    case kAvx2:
      return core::Isa::kAvx2;
    case kAvx512:
      return core::Isa::kAvx512;
    case kNeon:
      return core::Isa::kNeon;
    default:
      return core::BestIsa();
  }
}

bool KernelTypeSupported(int k) {
  if (k == kReference || k == kOptimized) return true;
  if (k < 0 || k >= kNumKernelTypes) return false;
  return core::IsaSupported(IsaFor(static_cast<KernelType>(k)));
}

// Thread count (internal::NumThreads): the installed context query, else the
// process-wide value.
std::atomic<NumThreadsQuery> g_threads_query{nullptr};
std::atomic<int> g_num_threads{1};

// Per-op profile counters (sttn_profile_*).
std::atomic<bool> g_profile{false};
std::atomic<long long> g_profile_count[internal::kNumOps];
std::atomic<long long> g_profile_ns[internal::kNumOps];

// ---------------------------------------------------------------------------
// Callbacks.

template <OpKind kOp, KernelType kKernel>
void* Init(TfLiteOpaqueContext* /*ctx*/, const char* buffer, size_t length) {
  OpData* od = new (std::nothrow) OpData;
  if (od == nullptr) return nullptr;
  od->kind = kOp;
  od->kernel = kKernel;
  od->isa = IsaFor(kKernel);
  internal::ParseOptions(od, buffer, length);
  return od;
}

void Free(TfLiteOpaqueContext* /*ctx*/, void* data) {
  delete static_cast<OpData*>(data);
}

template <OpKind kOp>
TfLiteStatus Prepare(TfLiteOpaqueContext* ctx, TfLiteOpaqueNode* node) {
  OpData* od = static_cast<OpData*>(TfLiteOpaqueNodeGetUserData(node));
  if (od == nullptr) {
    TfLiteOpaqueContextReportError(ctx, "%s: out of memory in Init",
                                   OpName(kOp));
    return kTfLiteError;
  }
  if (!od->options_ok) {
    TfLiteOpaqueContextReportError(ctx, "%s", od->options_error);
    return kTfLiteError;
  }
  switch (kOp) {
    case OpKind::kTernarize:
      return internal::PrepareTernarize(ctx, node, od);
    case OpKind::kFullyConnected:
    case OpKind::kFullyConnectedFloatIn:
      return internal::PrepareFullyConnected(ctx, node, od);
    default:
      return internal::PrepareConvLike(ctx, node, od);
  }
}

template <OpKind kOp>
TfLiteStatus Invoke(TfLiteOpaqueContext* ctx, TfLiteOpaqueNode* node) {
  OpData* od = static_cast<OpData*>(TfLiteOpaqueNodeGetUserData(node));
  if (od == nullptr || !od->options_ok || !od->constants_ready) {
    TfLiteOpaqueContextReportError(ctx,
                                   "%s: invoked without a successful "
                                   "Prepare",
                                   OpName(kOp));
    return kTfLiteError;
  }
  const void* x =
      TfLiteOpaqueTensorData(TfLiteOpaqueNodeGetInput(ctx, node, 0));
  void* y = TfLiteOpaqueTensorData(TfLiteOpaqueNodeGetOutput(ctx, node, 0));
  if (x == nullptr || y == nullptr) {
    TfLiteOpaqueContextReportError(ctx, "%s: input or output has no data",
                                   OpName(kOp));
    return kTfLiteError;
  }
  const bool profile = g_profile.load(std::memory_order_relaxed);
  const auto start = profile ? std::chrono::steady_clock::now()
                             : std::chrono::steady_clock::time_point();
  TfLiteStatus status;
  switch (kOp) {
    case OpKind::kTernarize:
      status = internal::InvokeTernarize(ctx, od, x, y);
      break;
    case OpKind::kFullyConnected:
    case OpKind::kFullyConnectedFloatIn:
      status = internal::InvokeFullyConnected(ctx, od, x, y);
      break;
    default:
      status = internal::InvokeConvLike(ctx, od, x, y);
      break;
  }
  if (profile) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        std::chrono::steady_clock::now() - start)
                        .count();
    g_profile_count[static_cast<int>(kOp)].fetch_add(1,
                                                     std::memory_order_relaxed);
    g_profile_ns[static_cast<int>(kOp)].fetch_add(ns,
                                                  std::memory_order_relaxed);
  }
  return status;
}

template <OpKind kOp, KernelType kKernel>
const TfLiteOperator* MakeOperator() {
  static const TfLiteOperator* const op = []() -> const TfLiteOperator* {
    TfLiteOperator* r =
        TfLiteOperatorCreate(kTfLiteBuiltinCustom, OpName(kOp), 1);
    if (r == nullptr) return nullptr;
    TfLiteOperatorSetInit(r, Init<kOp, kKernel>);
    TfLiteOperatorSetFree(r, Free);
    TfLiteOperatorSetPrepare(r, Prepare<kOp>);
    TfLiteOperatorSetInvoke(r, Invoke<kOp>);
    return r;
  }();
  return op;
}

template <OpKind kOp>
const TfLiteOperator* Select(KernelType kernel_type) {
  if (!KernelTypeSupported(kernel_type)) return nullptr;
  switch (kernel_type) {
    case kReference:
      return MakeOperator<kOp, kReference>();
    case kOptimized:
      return MakeOperator<kOp, kOptimized>();
    case kPortable:
      return MakeOperator<kOp, kPortable>();
    case kPopcnt:
      return MakeOperator<kOp, kPopcnt>();
    case kAvx2:
      return MakeOperator<kOp, kAvx2>();
    case kAvx512:
      return MakeOperator<kOp, kAvx512>();
    case kNeon:
      return MakeOperator<kOp, kNeon>();
  }
  return nullptr;
}

}  // namespace

namespace internal {

int NumThreads(const TfLiteOpaqueContext* ctx) {
  const NumThreadsQuery q = g_threads_query.load(std::memory_order_relaxed);
  const int n =
      q != nullptr ? q(ctx) : g_num_threads.load(std::memory_order_relaxed);
  return n < 1 ? 1 : n;
}

}  // namespace internal

const TfLiteOperator* Register_TERNARIZE(KernelType k) {
  return Select<OpKind::kTernarize>(k);
}
const TfLiteOperator* Register_CONV2D(KernelType k) {
  return Select<OpKind::kConv2D>(k);
}
const TfLiteOperator* Register_CONV2D_FLOAT_IN(KernelType k) {
  return Select<OpKind::kConv2DFloatIn>(k);
}
const TfLiteOperator* Register_FULLY_CONNECTED(KernelType k) {
  return Select<OpKind::kFullyConnected>(k);
}
const TfLiteOperator* Register_FULLY_CONNECTED_FLOAT_IN(KernelType k) {
  return Select<OpKind::kFullyConnectedFloatIn>(k);
}
const TfLiteOperator* Register_DEPTHWISE_CONV2D(KernelType k) {
  return Select<OpKind::kDepthwiseConv2D>(k);
}
const TfLiteOperator* Register_DEPTHWISE_CONV2D_FLOAT_IN(KernelType k) {
  return Select<OpKind::kDepthwiseConv2DFloatIn>(k);
}

void SetNumThreadsQuery(NumThreadsQuery query) {
  g_threads_query.store(query, std::memory_order_relaxed);
}

}  // namespace tflite
}  // namespace sttn

extern "C" {

int sttn_tflite_num_ops(void) { return sttn::tflite::internal::kNumOps; }

const char* sttn_tflite_op_name(int index) {
  if (index < 0 || index >= sttn::tflite::internal::kNumOps) return nullptr;
  return sttn::tflite::internal::kOpNames[index];
}

const TfLiteOperator* sttn_tflite_operator(int index, int kernel_type) {
  using namespace sttn::tflite;  // NOLINT
  if (!KernelTypeSupported(kernel_type)) return nullptr;
  const KernelType k = static_cast<KernelType>(kernel_type);
  switch (index) {
    case 0:
      return Register_TERNARIZE(k);
    case 1:
      return Register_CONV2D(k);
    case 2:
      return Register_CONV2D_FLOAT_IN(k);
    case 3:
      return Register_FULLY_CONNECTED(k);
    case 4:
      return Register_FULLY_CONNECTED_FLOAT_IN(k);
    case 5:
      return Register_DEPTHWISE_CONV2D(k);
    case 6:
      return Register_DEPTHWISE_CONV2D_FLOAT_IN(k);
    default:
      return nullptr;
  }
}

int sttn_op_format_version(void) { return sttn::tflite::kOpFormatVersion; }

const char* sttn_optimized_kernel(void) {
  return sttn::core::IsaName(sttn::core::BestIsa());
}

const char* sttn_optimized_popcount_path(void) {
  return sttn_optimized_kernel();
}

int sttn_kernel_type_supported(int kernel_type) {
  return sttn::tflite::KernelTypeSupported(kernel_type) ? 1 : 0;
}

const char* sttn_kernel_type_name(int kernel_type) {
  switch (kernel_type) {
    case sttn::tflite::kReference:
      return "reference";
    case sttn::tflite::kOptimized:
      return "optimized";
    case sttn::tflite::kPortable:
    case sttn::tflite::kPopcnt:
    case sttn::tflite::kAvx2:
    case sttn::tflite::kAvx512:
    case sttn::tflite::kNeon:
      return sttn::core::IsaName(sttn::tflite::IsaFor(
          static_cast<sttn::tflite::KernelType>(kernel_type)));
    default:
      return nullptr;
  }
}

void sttn_set_num_threads(int num_threads) {
  sttn::tflite::g_num_threads.store(num_threads < 1 ? 1 : num_threads,
                                    std::memory_order_relaxed);
}

void sttn_profile_enable(int enable) {
  sttn::tflite::g_profile.store(enable != 0, std::memory_order_relaxed);
}

void sttn_profile_reset(void) {
  for (int i = 0; i < sttn::tflite::internal::kNumOps; ++i) {
    sttn::tflite::g_profile_count[i].store(0, std::memory_order_relaxed);
    sttn::tflite::g_profile_ns[i].store(0, std::memory_order_relaxed);
  }
}

int sttn_profile_read(int op_index, long long* invocations,
                      long long* nanoseconds) {
  if (op_index < 0 || op_index >= sttn::tflite::internal::kNumOps) return 0;
  if (invocations != nullptr) {
    *invocations =
        sttn::tflite::g_profile_count[op_index].load(std::memory_order_relaxed);
  }
  if (nanoseconds != nullptr) {
    *nanoseconds =
        sttn::tflite::g_profile_ns[op_index].load(std::memory_order_relaxed);
  }
  return 1;
}

}  // extern "C"
