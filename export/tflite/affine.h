// What the two affine op families (conv_like.cc: conv and depthwise;
// fully_connected.cc) share: their constant inputs (weights, scale, bias and,
// for `output` = "PACKED", the output thresholds) and the packed output, which
// the ternary GEMM ternarizes tile by tile and every other path computes as
// floats first and ternarizes after.
#ifndef STTN_EXPORT_TFLITE_AFFINE_H_
#define STTN_EXPORT_TFLITE_AFFINE_H_

#include <cstdint>

#include "export/core/kernels.h"
#include "export/core/ternary_gemm.h"
#include "export/tflite/c_api_subset.h"
#include "export/tflite/op_data.h"

namespace sttn {
namespace tflite {
namespace internal {

// Loads inputs 1-3: the weights (`n_trits` trits) and scale and bias.
TfLiteStatus PrepareAffineConstants(TfLiteOpaqueContext* ctx,
                                    TfLiteOpaqueNode* node, OpData* od,
                                    int64_t n_trits);

// Output type of a conv / FC op: packed int32 trits or float32.
TfLiteType OutputType(const OpData* od);

// Packed output: validates and copies the thresholds (input 4).
bool LoadOutputThresholds(TfLiteOpaqueContext* ctx, OpData* od,
                          TfLiteOpaqueNode* node);

// Packed output of the ternary GEMM: integer thresholds on the accumulator
// (false only when out of memory; an unusable result leaves the float path).
bool PrepareIntThresholds(OpData* od, int64_t k_max);

// Packed output on a path that computes floats first: room for them.
bool NeedsFloatOut(const OpData* od);

// Invoke: the GEMM's packed output into `y` (filled in `*packed`), or
// nullptr when the output is float.
const core::PackedOutput* PackedOutputFor(OpData* od, void* y,
                                          core::PackedOutput* packed);

// Invoke: where the kernel writes floats: od->float_out when NeedsFloatOut,
// else the output `y` itself.
float* FloatOutputFor(OpData* od, void* y);

// Invoke, after the kernel: when NeedsFloatOut, ternarizes od->float_out
// ([rows][out_c]) into the packed output `y`.
void TernarizeFloatOut(TfLiteOpaqueContext* ctx, const OpData* od, int64_t rows,
                       void* y);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_AFFINE_H_
