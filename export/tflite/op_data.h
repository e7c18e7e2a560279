// The bottom of the op glue: which op a node runs (OpKind), the state of one
// node (OpData) and the malloc-backed array it holds its constants in. Every
// other file of export/tflite/ builds on this one; it includes no file of
// theirs. A new op adds its OpKind and its name in kOpNames here.
#ifndef STTN_EXPORT_TFLITE_OP_DATA_H_
#define STTN_EXPORT_TFLITE_OP_DATA_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/packing.h"
#include "export/tflite/c_api_subset.h"
#include "export/tflite/sttn_ops.h"

namespace sttn {
namespace tflite {
namespace internal {

// The op index of sttn_tflite_operator / sttn_tflite_op_name.
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

inline constexpr const char* kOpNames[kNumOps] = {
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

// The state of one node: Init fills the options (options.cc), Prepare the
// constants and shapes (the family files), Invoke reads them.
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

// Threads for the optimized kernels of this context (sttn_ops.cc: the
// installed NumThreadsQuery, else sttn_set_num_threads' value; >= 1).
int NumThreads(const TfLiteOpaqueContext* ctx);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_OP_DATA_H_
