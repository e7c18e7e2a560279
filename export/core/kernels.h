// TFLite-free math of the sttn custom ops (docs/op-format.md, versions 1-2).
//
// Every op has a *reference* implementation (plain loops over int8 trits, the
// oracle, kernels_reference.cc) and optimized ones, one file per op family
// and, where the ISA matters, per ISA path (isa.h):
//   * ternary conv2d / fully connected: the register-blocked ternary GEMM of
//     ternary_gemm.h (portable, popcnt, avx2, avx512, neon micro-kernels);
//   * depthwise (depthwise_optimized.cc): scalar and AVX2 paths;
//   * SttnTernarize (ternarize_optimized.cc): scalar, AVX2 and AVX-512;
//   * float input (float_in_optimized.cc): float x trit loops over weights
//     expanded once, vectorized by the compiler.
// The optimized entry points take the Isa to run, so tests can run every
// path the CPU supports in one process.
//
// All functions are pure: raw pointers plus shape structs; they never
// allocate. Shapes are validated once by ComputeConvShape /
// ComputeFullyConnectedShape, which return a Status instead of aborting.
#ifndef STTN_EXPORT_CORE_KERNELS_H_
#define STTN_EXPORT_CORE_KERNELS_H_

#include <cstddef>
#include <cstdint>

#include "export/core/isa.h"
#include "export/core/packing.h"
#include "export/core/status.h"

namespace sttn {
namespace core {

enum class Padding { kSame, kValid };
enum class Activation { kNone, kRelu };

// Geometry of a conv2d or depthwise conv2d, NHWC.
struct ConvShape {
  int batch = 0;
  int in_h = 0, in_w = 0, in_c = 0;
  int out_h = 0, out_w = 0, out_c = 0;
  int kernel_h = 0, kernel_w = 0;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0;
  int depth_multiplier = 1;  // depthwise only; 1 for conv2d
};

// Geometry of a fully connected layer; leading dims flattened into `rows`.
struct FullyConnectedShape {
  int rows = 0, in_c = 0, out_c = 0;
};

// One spatial dimension, exactly as TFLite/TensorFlow: VALID
// out = ceil((in - k + 1) / s); SAME out = ceil(in / s) with
// pad_total = max((out - 1) * s + k - in, 0) and pad_before = pad_total / 2.
Status ComputeOutputSize(int in, int kernel, int stride, Padding padding,
                         int* out, int* pad_before);

// Fills `shape` for a conv2d (`depth_multiplier` == 0) or a depthwise conv2d
// (`depth_multiplier` >= 1, out_c = in_c * depth_multiplier). Fails on
// non-positive sizes, an empty output or an element count beyond int32.
Status ComputeConvShape(int batch, int in_h, int in_w, int in_c, int out_c,
                        int kernel_h, int kernel_w, int stride_h, int stride_w,
                        Padding padding, int depth_multiplier,
                        ConvShape* shape);

Status ComputeFullyConnectedShape(int64_t rows, int in_c, int out_c,
                                  FullyConnectedShape* shape);

inline float Epilogue(float acc, float scale, float bias, Activation act) {
  const float y = scale * acc + bias;
  return (act == Activation::kRelu && !(y > 0.0f)) ? 0.0f : y;
}

// ---------------------------------------------------------------------------
// SttnTernarize: t = sgn * ([x > hi] - [x < lo]) per channel, compute-packed.
// thresholds: float[3][channels] (lo, hi, sgn), sgn in {+1, -1}.
Status ValidateThresholds(const float* thresholds, int channels);

// The three rows of SttnTernarize's thresholds.
struct TernarizeThresholds {
  TernarizeThresholds(const float* thresholds, int channels)
      : lo(thresholds),
        hi(thresholds + channels),
        sgn(thresholds + 2 * static_cast<int64_t>(channels)) {}
  const float* lo;
  const float* hi;
  const float* sgn;
};

void TernarizeReference(const float* x, int64_t rows, int channels,
                        const float* thresholds, int32_t* out);
// `threads` > 1 splits the rows over core::ParallelFor.
void TernarizeOptimized(const float* x, int64_t rows, int channels,
                        const float* thresholds, Isa isa, int32_t* out,
                        int threads = 1);

// ---------------------------------------------------------------------------
// Conv2D. Weights as int8 trits in OHWI order (reference) or prepared by the
// Prepare* helpers below (optimized float input) or by PackTernaryGemm
// (optimized ternary input, ternary_gemm.h).
void Conv2DTernaryReference(const ConvShape& s, const int32_t* x_packed,
                            const int8_t* w_ohwi, const float* scale,
                            const float* bias, Activation act, float* out);
void Conv2DFloatReference(const ConvShape& s, const float* x,
                          const int8_t* w_ohwi, const float* scale,
                          const float* bias, Activation act, float* out);

// Optimized float-input conv: w_hwio is float [kh][kw][in_c][out_c].
size_t Conv2DFloatWeightCount(const ConvShape& s);
void PrepareConv2DFloatWeights(const ConvShape& s, const int8_t* w_ohwi,
                               float* w_hwio);
void Conv2DFloatOptimized(const ConvShape& s, const float* x,
                          const float* w_hwio, const float* scale,
                          const float* bias, Activation act, float* out);

// ---------------------------------------------------------------------------
// Fully connected. Weights int8 [out_c][in_c] (reference).
void FullyConnectedTernaryReference(const FullyConnectedShape& s,
                                    const int32_t* x_packed, const int8_t* w,
                                    const float* scale, const float* bias,
                                    Activation act, float* out);
void FullyConnectedFloatReference(const FullyConnectedShape& s, const float* x,
                                  const int8_t* w, const float* scale,
                                  const float* bias, Activation act,
                                  float* out);
// Optimized float: w_io float [in_c][out_c].
void PrepareFullyConnectedFloatWeights(const FullyConnectedShape& s,
                                       const int8_t* w, float* w_io);
void FullyConnectedFloatOptimized(const FullyConnectedShape& s, const float* x,
                                  const float* w_io, const float* scale,
                                  const float* bias, Activation act,
                                  float* out);

// ---------------------------------------------------------------------------
// Depthwise conv2d. Weights int8 [kh][kw][out_c], out_c = in_c * M, output
// channel o = c * M + m reads input channel c.
void DepthwiseConv2DTernaryReference(const ConvShape& s,
                                     const int32_t* x_packed,
                                     const int8_t* w_hwo, const float* scale,
                                     const float* bias, Activation act,
                                     float* out);
void DepthwiseConv2DFloatReference(const ConvShape& s, const float* x,
                                   const int8_t* w_hwo, const float* scale,
                                   const float* bias, Activation act,
                                   float* out);
// Optimized ternary depthwise (depthwise_optimized.cc). The constants are
// prepared once: weights padded to whole 32-channel blocks, scale, bias and,
// for a packed output (`out_thresholds` [3][out_c], else nullptr), the
// integer thresholds of ternary_gemm.h; returns whether those are usable
// (finite scale and bias). The scratch holds per-thread row rings; prepare
// (zero) it once per shape. Writes floats to `out`, or packed trits to
// `packed_out` when that is given (prepared with thresholds that returned
// true).
size_t DepthwiseTernaryPreparedBytes(const ConvShape& s);
bool PrepareDepthwiseTernary(const ConvShape& s, const int8_t* w_hwo,
                             const float* scale, const float* bias,
                             Activation act, const float* out_thresholds,
                             void* prepared);
size_t DepthwiseTernaryScratchBytes(const ConvShape& s);
void PrepareDepthwiseTernaryScratch(const ConvShape& s, void* scratch);
void DepthwiseConv2DTernaryOptimized(const ConvShape& s,
                                     const int32_t* x_packed,
                                     const void* prepared, Activation act,
                                     Isa isa, int threads, void* scratch,
                                     float* out, int32_t* packed_out);
// Optimized float depthwise: w float [kh][kw][out_c].
void PrepareDepthwiseFloatWeights(const ConvShape& s, const int8_t* w_hwo,
                                  float* w_float);
void DepthwiseConv2DFloatOptimized(const ConvShape& s, const float* x,
                                   const float* w_float, const float* scale,
                                   const float* bias, Activation act, Isa isa,
                                   float* out);

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_KERNELS_H_
