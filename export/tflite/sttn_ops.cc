// Thin TFLite glue for the sttn custom ops, written against the opaque C API
// only: Init parses the FlexBuffer options, Prepare validates everything of
// docs/op-format.md ("Validation") and does all allocation (weights unpacked
// and repacked once), Invoke calls sttn::core. Nothing here aborts: every
// failure is reported through the context and returns kTfLiteError.
#include "export/tflite/sttn_ops.h"

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/packing.h"
#include "export/core/ternary_gemm.h"
#include "export/tflite/flexbuffer_map.h"

namespace sttn {
namespace tflite {
namespace {

enum class OpKind {
  kTernarize = 0,
  kConv2D,
  kConv2DFloatIn,
  kFullyConnected,
  kFullyConnectedFloatIn,
  kDepthwiseConv2D,
  kDepthwiseConv2DFloatIn,
};
constexpr int kNumOps = 7;

constexpr const char* kOpNames[kNumOps] = {
    "SttnTernarize",
    "SttnConv2D",
    "SttnConv2DFloatIn",
    "SttnFullyConnected",
    "SttnFullyConnectedFloatIn",
    "SttnDepthwiseConv2D",
    "SttnDepthwiseConv2DFloatIn",
};

constexpr const char* OpName(OpKind kind) {
  return kOpNames[static_cast<int>(kind)];
}
constexpr bool IsFloatIn(OpKind k) {
  return k == OpKind::kConv2DFloatIn || k == OpKind::kFullyConnectedFloatIn ||
         k == OpKind::kDepthwiseConv2DFloatIn;
}
constexpr bool IsConv(OpKind k) {
  return k == OpKind::kConv2D || k == OpKind::kConv2DFloatIn;
}
constexpr bool IsDepthwise(OpKind k) {
  return k == OpKind::kDepthwiseConv2D || k == OpKind::kDepthwiseConv2DFloatIn;
}
constexpr bool IsFullyConnected(OpKind k) {
  return k == OpKind::kFullyConnected || k == OpKind::kFullyConnectedFloatIn;
}

// malloc-backed array: allocation failures are reported, not thrown.
template <typename T>
class HeapArray {
 public:
  HeapArray() = default;
  HeapArray(const HeapArray&) = delete;
  HeapArray& operator=(const HeapArray&) = delete;
  ~HeapArray() { std::free(data_); }
  bool Resize(size_t n) {
    if (n == size_ && data_ != nullptr) return true;
    std::free(data_);
    size_ = 0;
    data_ = static_cast<T*>(std::malloc((n > 0 ? n : 1) * sizeof(T)));
    if (data_ == nullptr) return false;
    size_ = n;
    return true;
  }
  T* data() { return data_; }
  const T* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  T* data_ = nullptr;
  size_t size_ = 0;
};

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

// Thread count: the installed context query, else the process-wide value.
std::atomic<NumThreadsQuery> g_threads_query{nullptr};
std::atomic<int> g_num_threads{1};

int NumThreads(const TfLiteOpaqueContext* ctx) {
  const NumThreadsQuery q = g_threads_query.load(std::memory_order_relaxed);
  const int n =
      q != nullptr ? q(ctx) : g_num_threads.load(std::memory_order_relaxed);
  return n < 1 ? 1 : n;
}

// Per-op profile counters (sttn_profile_*).
std::atomic<bool> g_profile{false};
std::atomic<long long> g_profile_count[kNumOps];
std::atomic<long long> g_profile_ns[kNumOps];

struct OpData {
  OpKind kind = OpKind::kTernarize;
  KernelType kernel = kReference;
  core::Isa isa = core::Isa::kPortable;  // optimized kernel types
  bool options_ok = false;
  char options_error[384] = {};

  // Options.
  int64_t version = 0;
  int channels = 0;  // SttnTernarize
  int in_c = 0, out_c = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int depth_multiplier = 0;
  core::Padding padding = core::Padding::kValid;
  core::Activation activation = core::Activation::kNone;
  bool packed_out = false;  // `output` = "PACKED" (version >= 2)
  // Option `weight_encoding` (op format v2; v1 is always trit2).
  core::WeightEncoding weight_encoding = core::WeightEncoding::kTrit2;

  // Constants, prepared once.
  bool constants_ready = false;
  HeapArray<int8_t> w_trits;  // reference layout
  HeapArray<uint32_t> gemm;   // optimized ternary: ternary_gemm.h layout
  HeapArray<float> w_float;   // optimized float-input
  HeapArray<float> scale, bias, thresholds;
  HeapArray<float> out_thresholds;    // packed output: [3][out_c]
  HeapArray<int32_t> int_thresholds;  // ... as GEMM integer thresholds
  bool int_thresholds_ok = false;
  HeapArray<uint8_t> dw_prepared;  // optimized ternary depthwise
  bool dw_packed_ok = false;

  // Shapes of the current Prepare.
  core::ConvShape conv;
  core::FullyConnectedShape fc;
  int64_t rows = 0;  // SttnTernarize
  HeapArray<uint8_t> scratch;
  HeapArray<float> float_out;  // packed output of the non-GEMM paths
};

// ---------------------------------------------------------------------------
// Options.

void SetOptionsError(OpData* od, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void SetOptionsError(OpData* od, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(od->options_error, sizeof(od->options_error), format, args);
  va_end(args);
  od->options_ok = false;
}

bool GetInt(const flex::MapReader& m, OpData* od, const char* key,
            int64_t min_value, int64_t max_value, int64_t* out) {
  const char* op = OpName(od->kind);
  const flex::Value* v = m.Find(key);
  if (v == nullptr) {
    SetOptionsError(od, "%s: custom option `%s` is missing", op, key);
    return false;
  }
  int64_t value;
  if (v->kind == flex::Value::kInt) {
    value = v->i;
  } else if (v->kind == flex::Value::kUInt) {
    if (v->u > static_cast<uint64_t>(INT64_MAX)) {
      SetOptionsError(od,
                      "%s: custom option `%s` must be in [%" PRId64 ", %" PRId64
                      "], received %" PRIu64,
                      op, key, min_value, max_value, v->u);
      return false;
    }
    value = static_cast<int64_t>(v->u);
  } else {
    SetOptionsError(od, "%s: custom option `%s` must be an int, received a %s",
                    op, key, v->KindName());
    return false;
  }
  if (value < min_value || value > max_value) {
    SetOptionsError(od,
                    "%s: custom option `%s` must be in [%" PRId64 ", %" PRId64
                    "], received %" PRId64,
                    op, key, min_value, max_value, value);
    return false;
  }
  *out = value;
  return true;
}

bool GetPositiveInt(const flex::MapReader& m, OpData* od, const char* key,
                    int64_t max_value, int* out) {
  int64_t v;
  if (!GetInt(m, od, key, 1, max_value, &v)) return false;
  *out = static_cast<int>(v);
  return true;
}

// Reads a string option that must be one of `allowed` (nullptr-terminated);
// stores its index.
bool GetEnum(const flex::MapReader& m, OpData* od, const char* key,
             const char* const* allowed, const char* allowed_text, int* out) {
  const char* op = OpName(od->kind);
  const flex::Value* v = m.Find(key);
  if (v == nullptr) {
    SetOptionsError(od, "%s: custom option `%s` is missing", op, key);
    return false;
  }
  if (v->kind != flex::Value::kString) {
    SetOptionsError(od,
                    "%s: custom option `%s` must be a string, received a %s",
                    op, key, v->KindName());
    return false;
  }
  for (int i = 0; allowed[i] != nullptr; ++i) {
    // Compare with the stored length: an embedded NUL must not match.
    if (v->s_len == std::strlen(allowed[i]) &&
        std::memcmp(v->s, allowed[i], v->s_len) == 0) {
      *out = i;
      return true;
    }
  }
  SetOptionsError(od, "%s: custom option `%s` must be %s, received \"%.64s\"",
                  op, key, allowed_text, v->s);
  return false;
}

constexpr int64_t kMaxChannels = 1 << 24;
constexpr int64_t kMaxKernelOrStride = 1 << 16;

void ParseOptions(OpData* od, const char* buffer, size_t length) {
  const char* op = OpName(od->kind);
  flex::MapReader m;
  char error[200];
  if (!m.Parse(reinterpret_cast<const uint8_t*>(buffer), length, error,
               sizeof(error))) {
    SetOptionsError(od, "%s: %s", op, error);
    return;
  }
  // Keys each op accepts. `tfl_fusable_op` is the marker attribute of the
  // converter's experimental_implements route; it carries no meaning here.
  static const char* const kTernarizeKeys[] = {"version", "channels", nullptr};
  static const char* const kFcKeys[] = {
      "version", "in_channels",     "out_channels", "activation",
      "output",  "weight_encoding", nullptr};
  static const char* const kConvKeys[] = {
      "version",    "in_channels", "out_channels",    "kernel_h",
      "kernel_w",   "stride_h",    "stride_w",        "padding",
      "activation", "output",      "weight_encoding", nullptr};
  static const char* const kDepthwiseKeys[] = {
      "version",    "in_channels",      "out_channels", "kernel_h",
      "kernel_w",   "stride_h",         "stride_w",     "padding",
      "activation", "depth_multiplier", "output",       "weight_encoding",
      nullptr};
  const char* const* keys = od->kind == OpKind::kTernarize ? kTernarizeKeys
                            : IsFullyConnected(od->kind)   ? kFcKeys
                            : IsConv(od->kind)             ? kConvKeys
                                                           : kDepthwiseKeys;
  for (int i = 0; i < m.size(); ++i) {
    bool known = std::strcmp(m.key(i), "tfl_fusable_op") == 0;
    for (int k = 0; !known && keys[k] != nullptr; ++k) {
      known = std::strcmp(m.key(i), keys[k]) == 0;
    }
    if (!known) {
      SetOptionsError(od, "%s: unknown custom option `%.64s`", op, m.key(i));
      return;
    }
  }

  if (!GetInt(m, od, "version", INT64_MIN, INT64_MAX, &od->version)) return;
  if (od->version < kOldestOpFormatVersion || od->version > kOpFormatVersion) {
    SetOptionsError(od,
                    "%s: custom option `version` is %" PRId64
                    ", but these kernels implement op format versions %d to %d "
                    "(re-export the model with this sttn-keras, or update the "
                    "runtime)",
                    op, od->version, kOldestOpFormatVersion, kOpFormatVersion);
    return;
  }
  if (od->kind == OpKind::kTernarize) {
    if (!GetPositiveInt(m, od, "channels", kMaxChannels, &od->channels)) return;
    od->options_ok = true;
    return;
  }
  if (!GetPositiveInt(m, od, "in_channels", kMaxChannels, &od->in_c)) return;
  if (!GetPositiveInt(m, od, "out_channels", kMaxChannels, &od->out_c)) return;
  static const char* const kActivations[] = {"NONE", "RELU", nullptr};
  int act;
  if (!GetEnum(m, od, "activation", kActivations, "\"NONE\" or \"RELU\"",
               &act)) {
    return;
  }
  od->activation = act == 1 ? core::Activation::kRelu : core::Activation::kNone;
  if (m.Find("output") != nullptr) {
    if (od->version < 2) {
      SetOptionsError(
          od,
          "%s: custom option `output` needs op format version >= 2, "
          "received version %" PRId64,
          op, od->version);
      return;
    }
    static const char* const kOutputs[] = {"FLOAT", "PACKED", nullptr};
    int output;
    if (!GetEnum(m, od, "output", kOutputs, "\"FLOAT\" or \"PACKED\"",
                 &output)) {
      return;
    }
    od->packed_out = output == 1;
  }
  if (m.Find("weight_encoding") != nullptr) {
    if (od->version < 2) {
      SetOptionsError(od,
                      "%s: custom option `weight_encoding` needs op format "
                      "version >= 2, but `version` is %" PRId64,
                      op, od->version);
      return;
    }
    static const char* const kEncodings[] = {"trit2", "base3", nullptr};
    int enc;
    if (!GetEnum(m, od, "weight_encoding", kEncodings, "\"trit2\" or \"base3\"",
                 &enc)) {
      return;
    }
    od->weight_encoding =
        enc == 1 ? core::WeightEncoding::kBase3 : core::WeightEncoding::kTrit2;
  }
  if (IsFullyConnected(od->kind)) {
    od->options_ok = true;
    return;
  }
  if (!GetPositiveInt(m, od, "kernel_h", kMaxKernelOrStride, &od->kernel_h) ||
      !GetPositiveInt(m, od, "kernel_w", kMaxKernelOrStride, &od->kernel_w) ||
      !GetPositiveInt(m, od, "stride_h", kMaxKernelOrStride, &od->stride_h) ||
      !GetPositiveInt(m, od, "stride_w", kMaxKernelOrStride, &od->stride_w)) {
    return;
  }
  static const char* const kPaddings[] = {"SAME", "VALID", nullptr};
  int pad;
  if (!GetEnum(m, od, "padding", kPaddings, "\"SAME\" or \"VALID\"", &pad)) {
    return;
  }
  od->padding = pad == 0 ? core::Padding::kSame : core::Padding::kValid;
  if (IsDepthwise(od->kind)) {
    if (!GetPositiveInt(m, od, "depth_multiplier", kMaxChannels,
                        &od->depth_multiplier)) {
      return;
    }
    if (static_cast<int64_t>(od->in_c) * od->depth_multiplier != od->out_c) {
      SetOptionsError(od,
                      "%s: custom option `out_channels` (%d) must equal "
                      "in_channels * depth_multiplier (%d * %d)",
                      op, od->out_c, od->in_c, od->depth_multiplier);
      return;
    }
  }
  od->options_ok = true;
}

// ---------------------------------------------------------------------------
// Prepare helpers.

void Report(TfLiteOpaqueContext* ctx, const OpData* od, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void Report(TfLiteOpaqueContext* ctx, const OpData* od, const char* format,
            ...) {
  char message[512];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  TfLiteOpaqueContextReportError(ctx, "%s: %s", OpName(od->kind), message);
}

const char* TypeName(TfLiteType t) {
  switch (t) {
    case kTfLiteFloat32:
      return "float32";
    case kTfLiteInt32:
      return "int32";
    case kTfLiteUInt8:
      return "uint8";
    case kTfLiteInt64:
      return "int64";
    case kTfLiteInt8:
      return "int8";
    default:
      return "another type";
  }
}

// Checks type and (rank >= 0) rank of a present tensor.
bool CheckTensor(TfLiteOpaqueContext* ctx, const OpData* od,
                 const TfLiteOpaqueTensor* t, const char* what, TfLiteType type,
                 int rank) {
  if (t == nullptr) {
    Report(ctx, od, "%s is missing", what);
    return false;
  }
  if (TfLiteOpaqueTensorType(t) != type) {
    Report(ctx, od, "%s must be %s, received %s", what, TypeName(type),
           TypeName(TfLiteOpaqueTensorType(t)));
    return false;
  }
  if (rank >= 0 && TfLiteOpaqueTensorNumDims(t) != rank) {
    Report(ctx, od, "%s must have rank %d, received rank %d", what, rank,
           static_cast<int>(TfLiteOpaqueTensorNumDims(t)));
    return false;
  }
  return true;
}

bool CheckConstant(TfLiteOpaqueContext* ctx, const OpData* od,
                   const TfLiteOpaqueTensor* t, const char* what) {
  const TfLiteAllocationType a = TfLiteOpaqueTensorGetAllocationType(t);
  if (a != kTfLiteMmapRo && a != kTfLitePersistentRo) {
    Report(ctx, od, "%s must be a constant tensor", what);
    return false;
  }
  if (TfLiteOpaqueTensorData(t) == nullptr) {
    Report(ctx, od, "%s has no data", what);
    return false;
  }
  return true;
}

int64_t NumElements(const TfLiteOpaqueTensor* t) {
  int64_t n = 1;
  const int rank = TfLiteOpaqueTensorNumDims(t);
  for (int i = 0; i < rank; ++i) {
    const int32_t d = TfLiteOpaqueTensorDim(t, i);
    if (d < 0) return -1;
    n *= d;
    if (n > (int64_t{1} << 40)) return -1;
  }
  return n;
}

// Copies a constant float32 vector [n] (rank 1) into `dst`.
bool LoadFloatVector(TfLiteOpaqueContext* ctx, OpData* od,
                     const TfLiteOpaqueTensor* t, const char* what, int n,
                     HeapArray<float>* dst) {
  if (!CheckTensor(ctx, od, t, what, kTfLiteFloat32, 1)) return false;
  if (TfLiteOpaqueTensorDim(t, 0) != n) {
    Report(ctx, od, "%s must have length out_channels = %d, received %d", what,
           n, static_cast<int>(TfLiteOpaqueTensorDim(t, 0)));
    return false;
  }
  if (!CheckConstant(ctx, od, t, what)) return false;
  if (TfLiteOpaqueTensorByteSize(t) != static_cast<size_t>(n) * sizeof(float)) {
    Report(ctx, od, "%s holds %zu bytes, expected %zu", what,
           TfLiteOpaqueTensorByteSize(t),
           static_cast<size_t>(n) * sizeof(float));
    return false;
  }
  if (!dst->Resize(static_cast<size_t>(n))) {
    Report(ctx, od, "out of memory copying %s", what);
    return false;
  }
  std::memcpy(dst->data(), TfLiteOpaqueTensorData(t),
              static_cast<size_t>(n) * sizeof(float));
  return true;
}

// Validates and copies a constant float32 [3, channels] thresholds tensor
// (rows lo, hi, sgn) into `dst`.
bool LoadThresholds(TfLiteOpaqueContext* ctx, OpData* od,
                    const TfLiteOpaqueTensor* th, const char* what,
                    int channels, HeapArray<float>* dst) {
  if (!CheckTensor(ctx, od, th, what, kTfLiteFloat32, 2)) return false;
  if (TfLiteOpaqueTensorDim(th, 0) != 3 ||
      TfLiteOpaqueTensorDim(th, 1) != channels) {
    Report(ctx, od, "%s must have shape [3, %d], received [%d, %d]", what,
           channels, static_cast<int>(TfLiteOpaqueTensorDim(th, 0)),
           static_cast<int>(TfLiteOpaqueTensorDim(th, 1)));
    return false;
  }
  if (!CheckConstant(ctx, od, th, what)) return false;
  const size_t n = 3 * static_cast<size_t>(channels);
  if (TfLiteOpaqueTensorByteSize(th) != n * sizeof(float) || !dst->Resize(n)) {
    Report(ctx, od, "%s has a wrong byte size or could not be copied", what);
    return false;
  }
  std::memcpy(dst->data(), TfLiteOpaqueTensorData(th), n * sizeof(float));
  const core::Status st = core::ValidateThresholds(dst->data(), channels);
  if (!st.ok()) {
    Report(ctx, od, "%s: %s", what, st.message());
    return false;
  }
  return true;
}

// Validates and unpacks the file-packed weights (in od->weight_encoding)
// into od->w_trits, once, in Prepare.
bool LoadWeights(TfLiteOpaqueContext* ctx, OpData* od,
                 const TfLiteOpaqueTensor* t, int64_t n) {
  const char* what = "input 1 (`weights`)";
  if (!CheckTensor(ctx, od, t, what, kTfLiteUInt8, -1)) return false;
  if (!CheckConstant(ctx, od, t, what)) return false;
  const bool base3 = od->weight_encoding == core::WeightEncoding::kBase3;
  const int64_t expected = core::WeightBytes(od->weight_encoding, n);
  const int64_t elements = NumElements(t);
  if (elements != expected ||
      TfLiteOpaqueTensorByteSize(t) != static_cast<size_t>(expected)) {
    Report(ctx, od,
           "%s holds %" PRId64 " bytes, expected ceil(%" PRId64
           " / %d) = %" PRId64 " for the options' shape (weight_encoding %s)",
           what, elements, n, base3 ? 5 : 4, expected,
           base3 ? "base3" : "trit2");
    return false;
  }
  if (!od->w_trits.Resize(static_cast<size_t>(n))) {
    Report(ctx, od, "out of memory unpacking %s", what);
    return false;
  }
  const core::Status st = core::UnpackWeights(
      od->weight_encoding,
      static_cast<const uint8_t*>(TfLiteOpaqueTensorData(t)),
      static_cast<size_t>(expected), n, od->w_trits.data());
  if (!st.ok()) {
    Report(ctx, od, "%s: %s", what, st.message());
    return false;
  }
  return true;
}

bool ResizeOutput(TfLiteOpaqueContext* ctx, const OpData* od,
                  TfLiteOpaqueTensor* out, const int* dims, int rank) {
  TfLiteIntArray* shape = TfLiteIntArrayCreate(rank);
  if (shape == nullptr) {
    Report(ctx, od, "out of memory resizing the output");
    return false;
  }
  for (int i = 0; i < rank; ++i) shape->data[i] = dims[i];
  if (TfLiteOpaqueContextResizeTensor(ctx, out, shape) != kTfLiteOk) {
    Report(ctx, od, "could not resize the output");
    return false;
  }
  return true;
}

bool CheckCounts(TfLiteOpaqueContext* ctx, const OpData* od,
                 TfLiteOpaqueNode* node, int inputs) {
  const int n_in = TfLiteOpaqueNodeNumberOfInputs(node);
  const int n_out = TfLiteOpaqueNodeNumberOfOutputs(node);
  if (n_in != inputs || n_out != 1) {
    Report(ctx, od, "expected %d inputs and 1 output, received %d and %d",
           inputs, n_in, n_out);
    return false;
  }
  return true;
}

// Checks the activation input `x`: type, rank (or minimum rank) and channel
// dimension against in_channels / its packed width.
bool CheckActivationInput(TfLiteOpaqueContext* ctx, const OpData* od,
                          const TfLiteOpaqueTensor* x, bool float_in,
                          int channels, int rank, int min_rank) {
  const char* what = "input 0 (`x`)";
  if (!CheckTensor(ctx, od, x, what, float_in ? kTfLiteFloat32 : kTfLiteInt32,
                   rank)) {
    return false;
  }
  const int r = TfLiteOpaqueTensorNumDims(x);
  if (r < min_rank) {
    Report(ctx, od, "%s must have rank >= %d, received rank %d", what, min_rank,
           r);
    return false;
  }
  const int last = TfLiteOpaqueTensorDim(x, r - 1);
  if (float_in) {
    if (last != channels) {
      Report(ctx, od,
             "%s has %d channels, but the options say in_channels = %d", what,
             last, channels);
      return false;
    }
  } else if (last != core::PackedWidth(channels)) {
    Report(ctx, od,
           "%s is packed %d int32 words wide, but in_channels = %d needs "
           "2 * ceil(%d / 32) = %d",
           what, last, channels, channels, core::PackedWidth(channels));
    return false;
  }
  if (NumElements(x) <= 0) {
    Report(ctx, od, "%s is empty or has unknown dimensions", what);
    return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Prepare per op family.

TfLiteStatus PrepareTernarize(TfLiteOpaqueContext* ctx, TfLiteOpaqueNode* node,
                              OpData* od) {
  if (!CheckCounts(ctx, od, node, 2)) return kTfLiteError;
  const TfLiteOpaqueTensor* x = TfLiteOpaqueNodeGetInput(ctx, node, 0);
  const TfLiteOpaqueTensor* th = TfLiteOpaqueNodeGetInput(ctx, node, 1);
  TfLiteOpaqueTensor* out = TfLiteOpaqueNodeGetOutput(ctx, node, 0);
  if (!CheckTensor(ctx, od, x, "input 0 (`x`)", kTfLiteFloat32, -1)) {
    return kTfLiteError;
  }
  const int rank = TfLiteOpaqueTensorNumDims(x);
  if (rank != 2 && rank != 4) {
    Report(ctx, od, "input 0 (`x`) must have rank 2 or 4, received rank %d",
           rank);
    return kTfLiteError;
  }
  if (!CheckActivationInput(ctx, od, x, true, od->channels, rank, rank)) {
    return kTfLiteError;
  }
  if (!CheckTensor(ctx, od, out, "output 0", kTfLiteInt32, -1)) {
    return kTfLiteError;
  }
  if (!od->constants_ready) {
    if (!LoadThresholds(ctx, od, th, "input 1 (`thresholds`)", od->channels,
                        &od->thresholds)) {
      return kTfLiteError;
    }
    od->constants_ready = true;
  }
  int dims[4];
  od->rows = 1;
  for (int i = 0; i < rank - 1; ++i) {
    dims[i] = TfLiteOpaqueTensorDim(x, i);
    od->rows *= dims[i];
  }
  dims[rank - 1] = core::PackedWidth(od->channels);
  if (od->rows * dims[rank - 1] > INT_MAX) {
    Report(ctx, od, "output would exceed 2^31 elements");
    return kTfLiteError;
  }
  return ResizeOutput(ctx, od, out, dims, rank) ? kTfLiteOk : kTfLiteError;
}

TfLiteStatus PrepareAffineConstants(TfLiteOpaqueContext* ctx,
                                    TfLiteOpaqueNode* node, OpData* od,
                                    int64_t n_trits) {
  if (!LoadWeights(ctx, od, TfLiteOpaqueNodeGetInput(ctx, node, 1), n_trits) ||
      !LoadFloatVector(ctx, od, TfLiteOpaqueNodeGetInput(ctx, node, 2),
                       "input 2 (`scale`)", od->out_c, &od->scale) ||
      !LoadFloatVector(ctx, od, TfLiteOpaqueNodeGetInput(ctx, node, 3),
                       "input 3 (`bias`)", od->out_c, &od->bias)) {
    return kTfLiteError;
  }
  return kTfLiteOk;
}

// Output type of a conv / FC op: packed int32 trits or float32.
TfLiteType OutputType(const OpData* od) {
  return od->packed_out ? kTfLiteInt32 : kTfLiteFloat32;
}

// Packed output: validates and copies the thresholds (input 4).
bool LoadOutputThresholds(TfLiteOpaqueContext* ctx, OpData* od,
                          TfLiteOpaqueNode* node) {
  return LoadThresholds(ctx, od, TfLiteOpaqueNodeGetInput(ctx, node, 4),
                        "input 4 (`output_thresholds`)", od->out_c,
                        &od->out_thresholds);
}

// Packed output of the ternary GEMM: integer thresholds on the accumulator
// (false only when out of memory; an unusable result leaves the float path).
bool PrepareIntThresholds(OpData* od, int64_t k_max) {
  od->int_thresholds_ok = false;
  if (!od->packed_out) return true;
  if (!od->int_thresholds.Resize(
          core::TernaryGemmPackedOutputWords(od->isa, od->out_c))) {
    return false;
  }
  od->int_thresholds_ok = core::PrepareTernaryGemmPackedOutput(
      od->isa, od->out_c, k_max, od->scale.data(), od->bias.data(),
      od->activation, od->out_thresholds.data(), od->int_thresholds.data());
  return true;
}

// Packed output on a path that computes floats first: room for them.
bool NeedsFloatOut(const OpData* od) {
  if (!od->packed_out) return false;
  if (od->kernel == kReference || IsFloatIn(od->kind)) return true;
  if (IsDepthwise(od->kind)) return !od->dw_packed_ok;
  return false;  // the GEMM ternarizes its own tiles
}

TfLiteStatus PrepareConvLike(TfLiteOpaqueContext* ctx, TfLiteOpaqueNode* node,
                             OpData* od) {
  if (!CheckCounts(ctx, od, node, od->packed_out ? 5 : 4)) return kTfLiteError;
  const bool float_in = IsFloatIn(od->kind);
  const bool depthwise = IsDepthwise(od->kind);
  const TfLiteOpaqueTensor* x = TfLiteOpaqueNodeGetInput(ctx, node, 0);
  TfLiteOpaqueTensor* out = TfLiteOpaqueNodeGetOutput(ctx, node, 0);
  if (!CheckActivationInput(ctx, od, x, float_in, od->in_c, 4, 4) ||
      !CheckTensor(ctx, od, out, "output 0", OutputType(od), -1)) {
    return kTfLiteError;
  }
  core::ConvShape shape;
  const core::Status st = core::ComputeConvShape(
      TfLiteOpaqueTensorDim(x, 0), TfLiteOpaqueTensorDim(x, 1),
      TfLiteOpaqueTensorDim(x, 2), od->in_c, od->out_c, od->kernel_h,
      od->kernel_w, od->stride_h, od->stride_w, od->padding,
      depthwise ? od->depth_multiplier : 0, &shape);
  if (!st.ok()) {
    Report(ctx, od, "%s", st.message());
    return kTfLiteError;
  }
  od->conv = shape;
  if (!od->constants_ready) {
    const int64_t n_trits =
        depthwise
            ? static_cast<int64_t>(od->kernel_h) * od->kernel_w * od->out_c
            : static_cast<int64_t>(od->out_c) * od->kernel_h * od->kernel_w *
                  od->in_c;
    if (PrepareAffineConstants(ctx, node, od, n_trits) != kTfLiteOk) {
      return kTfLiteError;
    }
    if (od->packed_out && !LoadOutputThresholds(ctx, od, node)) {
      return kTfLiteError;
    }
    if (od->kernel != kReference) {
      bool ok = true;
      if (!depthwise && !float_in) {
        const int taps = od->kernel_h * od->kernel_w;
        ok = od->gemm.Resize(
            core::TernaryGemmPackedWords(od->isa, od->out_c, taps, od->in_c));
        if (ok) {
          core::PackTernaryGemm(od->isa, od->w_trits.data(), od->out_c, taps,
                                od->in_c, od->scale.data(), od->bias.data(),
                                od->gemm.data());
          ok = PrepareIntThresholds(od, static_cast<int64_t>(taps) * od->in_c);
        }
      } else if (!depthwise && float_in) {
        ok = od->w_float.Resize(core::Conv2DFloatWeightCount(shape));
        if (ok) {
          core::PrepareConv2DFloatWeights(shape, od->w_trits.data(),
                                          od->w_float.data());
        }
      } else if (depthwise && !float_in) {
        ok = od->dw_prepared.Resize(core::DepthwiseTernaryPreparedBytes(shape));
        if (ok) {
          od->dw_packed_ok = core::PrepareDepthwiseTernary(
              shape, od->w_trits.data(), od->scale.data(), od->bias.data(),
              od->activation,
              od->packed_out ? od->out_thresholds.data() : nullptr,
              od->dw_prepared.data());
        }
      } else if (depthwise && float_in) {
        ok = od->w_float.Resize(static_cast<size_t>(n_trits));
        if (ok) {
          core::PrepareDepthwiseFloatWeights(shape, od->w_trits.data(),
                                             od->w_float.data());
        }
      }
      if (!ok) {
        Report(ctx, od, "out of memory preparing the weights");
        return kTfLiteError;
      }
    }
    od->constants_ready = true;
  }
  if (!float_in && od->kernel != kReference) {
    const size_t bytes = depthwise ? core::DepthwiseTernaryScratchBytes(shape)
                                   : core::Conv2DTernaryGemmScratchBytes(
                                         od->isa, shape, od->packed_out);
    if (!od->scratch.Resize(bytes)) {
      Report(ctx, od, "out of memory allocating scratch");
      return kTfLiteError;
    }
    if (depthwise) {
      core::PrepareDepthwiseTernaryScratch(shape, od->scratch.data());
    } else {
      core::PrepareConv2DTernaryGemmScratch(od->isa, shape, od->scratch.data(),
                                            od->packed_out);
    }
  }
  if (NeedsFloatOut(od) &&
      !od->float_out.Resize(static_cast<size_t>(shape.batch) * shape.out_h *
                            shape.out_w * shape.out_c)) {
    Report(ctx, od, "out of memory allocating the float output");
    return kTfLiteError;
  }
  const int dims[4] = {
      shape.batch, shape.out_h, shape.out_w,
      od->packed_out ? core::PackedWidth(shape.out_c) : shape.out_c};
  return ResizeOutput(ctx, od, out, dims, 4) ? kTfLiteOk : kTfLiteError;
}

TfLiteStatus PrepareFullyConnected(TfLiteOpaqueContext* ctx,
                                   TfLiteOpaqueNode* node, OpData* od) {
  if (!CheckCounts(ctx, od, node, od->packed_out ? 5 : 4)) return kTfLiteError;
  const bool float_in = IsFloatIn(od->kind);
  const TfLiteOpaqueTensor* x = TfLiteOpaqueNodeGetInput(ctx, node, 0);
  TfLiteOpaqueTensor* out = TfLiteOpaqueNodeGetOutput(ctx, node, 0);
  if (!CheckActivationInput(ctx, od, x, float_in, od->in_c, -1, 1) ||
      !CheckTensor(ctx, od, out, "output 0", OutputType(od), -1)) {
    return kTfLiteError;
  }
  const int rank = TfLiteOpaqueTensorNumDims(x);
  if (rank > 8) {
    Report(ctx, od, "input 0 (`x`) rank %d is above the supported 8", rank);
    return kTfLiteError;
  }
  int dims[8];
  int64_t rows = 1;
  for (int i = 0; i < rank - 1; ++i) {
    dims[i] = TfLiteOpaqueTensorDim(x, i);
    rows *= dims[i];
  }
  dims[rank - 1] = od->packed_out ? core::PackedWidth(od->out_c) : od->out_c;
  core::FullyConnectedShape shape;
  const core::Status st =
      core::ComputeFullyConnectedShape(rows, od->in_c, od->out_c, &shape);
  if (!st.ok()) {
    Report(ctx, od, "%s", st.message());
    return kTfLiteError;
  }
  od->fc = shape;
  if (!od->constants_ready) {
    if (PrepareAffineConstants(ctx, node, od,
                               static_cast<int64_t>(od->out_c) * od->in_c) !=
        kTfLiteOk) {
      return kTfLiteError;
    }
    if (od->packed_out && !LoadOutputThresholds(ctx, od, node)) {
      return kTfLiteError;
    }
    if (od->kernel != kReference) {
      bool ok;
      if (float_in) {
        ok = od->w_float.Resize(static_cast<size_t>(od->out_c) * od->in_c);
        if (ok) {
          core::PrepareFullyConnectedFloatWeights(shape, od->w_trits.data(),
                                                  od->w_float.data());
        }
      } else {
        ok = od->gemm.Resize(
            core::TernaryGemmPackedWords(od->isa, od->out_c, 1, od->in_c));
        if (ok) {
          core::PackTernaryGemm(od->isa, od->w_trits.data(), od->out_c, 1,
                                od->in_c, od->scale.data(), od->bias.data(),
                                od->gemm.data());
          ok = PrepareIntThresholds(od, od->in_c);
        }
      }
      if (!ok) {
        Report(ctx, od, "out of memory preparing the weights");
        return kTfLiteError;
      }
    }
    od->constants_ready = true;
  }
  if (!float_in && od->kernel != kReference) {
    if (!od->scratch.Resize(core::FullyConnectedTernaryGemmScratchBytes(
            od->isa, shape, od->packed_out))) {
      Report(ctx, od, "out of memory allocating scratch");
      return kTfLiteError;
    }
    core::PrepareFullyConnectedTernaryGemmScratch(
        od->isa, shape, od->scratch.data(), od->packed_out);
  }
  if (NeedsFloatOut(od) &&
      !od->float_out.Resize(static_cast<size_t>(rows) * od->out_c)) {
    Report(ctx, od, "out of memory allocating the float output");
    return kTfLiteError;
  }
  return ResizeOutput(ctx, od, out, dims, rank) ? kTfLiteOk : kTfLiteError;
}

// ---------------------------------------------------------------------------
// Callbacks.

template <OpKind kOp, KernelType kKernel>
void* Init(TfLiteOpaqueContext* /*ctx*/, const char* buffer, size_t length) {
  OpData* od = new (std::nothrow) OpData;
  if (od == nullptr) return nullptr;
  od->kind = kOp;
  od->kernel = kKernel;
  od->isa = IsaFor(kKernel);
  ParseOptions(od, buffer, length);
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
      return PrepareTernarize(ctx, node, od);
    case OpKind::kFullyConnected:
    case OpKind::kFullyConnectedFloatIn:
      return PrepareFullyConnected(ctx, node, od);
    default:
      return PrepareConvLike(ctx, node, od);
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
  const bool opt = od->kernel != kReference;
  const bool profile = g_profile.load(std::memory_order_relaxed);
  const auto start = profile ? std::chrono::steady_clock::now()
                             : std::chrono::steady_clock::time_point();
  const float* scale = od->scale.data();
  const float* bias = od->bias.data();
  const core::Activation act = od->activation;
  // Packed output: the GEMM ternarizes tile by tile; the other paths write
  // floats to od->float_out, ternarized below.
  core::PackedOutput packed;
  const core::PackedOutput* packed_out = nullptr;
  if (od->packed_out) {
    packed.thresholds = od->out_thresholds.data();
    packed.out = static_cast<int32_t*>(y);
    packed.int_thresholds =
        od->int_thresholds_ok ? od->int_thresholds.data() : nullptr;
    packed_out = &packed;
  }
  float* out =
      NeedsFloatOut(od) ? od->float_out.data() : static_cast<float*>(y);
  switch (kOp) {
    case OpKind::kTernarize:
      if (opt) {
        core::TernarizeOptimized(static_cast<const float*>(x), od->rows,
                                 od->channels, od->thresholds.data(), od->isa,
                                 static_cast<int32_t*>(y), NumThreads(ctx));
      } else {
        core::TernarizeReference(static_cast<const float*>(x), od->rows,
                                 od->channels, od->thresholds.data(),
                                 static_cast<int32_t*>(y));
      }
      break;
    case OpKind::kConv2D:
      if (opt) {
        core::Conv2DTernaryGemm(
            od->isa, od->conv, static_cast<const int32_t*>(x), od->gemm.data(),
            act, NumThreads(ctx), od->scratch.data(), out, packed_out);
      } else {
        core::Conv2DTernaryReference(od->conv, static_cast<const int32_t*>(x),
                                     od->w_trits.data(), scale, bias, act, out);
      }
      break;
    case OpKind::kConv2DFloatIn:
      if (opt) {
        core::Conv2DFloatOptimized(od->conv, static_cast<const float*>(x),
                                   od->w_float.data(), scale, bias, act, out);
      } else {
        core::Conv2DFloatReference(od->conv, static_cast<const float*>(x),
                                   od->w_trits.data(), scale, bias, act, out);
      }
      break;
    case OpKind::kFullyConnected:
      if (opt) {
        core::FullyConnectedTernaryGemm(
            od->isa, od->fc, static_cast<const int32_t*>(x), od->gemm.data(),
            act, NumThreads(ctx), od->scratch.data(), out, packed_out);
      } else {
        core::FullyConnectedTernaryReference(
            od->fc, static_cast<const int32_t*>(x), od->w_trits.data(), scale,
            bias, act, out);
      }
      break;
    case OpKind::kFullyConnectedFloatIn:
      if (opt) {
        core::FullyConnectedFloatOptimized(od->fc, static_cast<const float*>(x),
                                           od->w_float.data(), scale, bias, act,
                                           out);
      } else {
        core::FullyConnectedFloatReference(od->fc, static_cast<const float*>(x),
                                           od->w_trits.data(), scale, bias, act,
                                           out);
      }
      break;
    case OpKind::kDepthwiseConv2D:
      if (opt) {
        core::DepthwiseConv2DTernaryOptimized(
            od->conv, static_cast<const int32_t*>(x), od->dw_prepared.data(),
            act, od->isa, NumThreads(ctx), od->scratch.data(), out,
            od->packed_out && od->dw_packed_ok ? static_cast<int32_t*>(y)
                                               : nullptr);
      } else {
        core::DepthwiseConv2DTernaryReference(
            od->conv, static_cast<const int32_t*>(x), od->w_trits.data(), scale,
            bias, act, out);
      }
      break;
    case OpKind::kDepthwiseConv2DFloatIn:
      if (opt) {
        core::DepthwiseConv2DFloatOptimized(
            od->conv, static_cast<const float*>(x), od->w_float.data(), scale,
            bias, act, od->isa, out);
      } else {
        core::DepthwiseConv2DFloatReference(
            od->conv, static_cast<const float*>(x), od->w_trits.data(), scale,
            bias, act, out);
      }
      break;
  }
  if (NeedsFloatOut(od)) {
    const int64_t rows = IsFullyConnected(kOp)
                             ? od->fc.rows
                             : static_cast<int64_t>(od->conv.batch) *
                                   od->conv.out_h * od->conv.out_w;
    if (opt) {
      core::TernarizeOptimized(out, rows, od->out_c, od->out_thresholds.data(),
                               od->isa, static_cast<int32_t*>(y),
                               NumThreads(ctx));
    } else {
      core::TernarizeReference(out, rows, od->out_c, od->out_thresholds.data(),
                               static_cast<int32_t*>(y));
    }
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
  return kTfLiteOk;
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

int sttn_tflite_num_ops(void) { return sttn::tflite::kNumOps; }

const char* sttn_tflite_op_name(int index) {
  if (index < 0 || index >= sttn::tflite::kNumOps) return nullptr;
  return sttn::tflite::kOpNames[index];
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

const char* sttn_optimized_popcount_path(void) {
  return sttn::core::IsaName(sttn::core::BestIsa());
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
  for (int i = 0; i < sttn::tflite::kNumOps; ++i) {
    sttn::tflite::g_profile_count[i].store(0, std::memory_order_relaxed);
    sttn::tflite::g_profile_ns[i].store(0, std::memory_order_relaxed);
  }
}

int sttn_profile_read(int op_index, long long* invocations,
                      long long* nanoseconds) {
  if (op_index < 0 || op_index >= sttn::tflite::kNumOps) return 0;
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
