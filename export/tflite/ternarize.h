// The SttnTernarize op family: float activations to packed trits against
// per-channel thresholds (docs/op-format.md). Prepare validates the node and
// copies the thresholds; Invoke runs the reference or the optimized kernel.
#ifndef STTN_EXPORT_TFLITE_TERNARIZE_H_
#define STTN_EXPORT_TFLITE_TERNARIZE_H_

#include "export/tflite/c_api_subset.h"
#include "export/tflite/op_data.h"

namespace sttn {
namespace tflite {
namespace internal {

// Prepare of SttnTernarize: validates inputs/output, loads the thresholds
// once, resizes the output.
TfLiteStatus PrepareTernarize(TfLiteOpaqueContext* ctx, TfLiteOpaqueNode* node,
                              OpData* od);

// Invoke of SttnTernarize on input data `x` and output data `y`.
TfLiteStatus InvokeTernarize(TfLiteOpaqueContext* ctx, OpData* od,
                             const void* x, void* y);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_TERNARIZE_H_
