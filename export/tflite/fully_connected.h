// The fully connected op family: SttnFullyConnected (packed ternary input)
// and SttnFullyConnectedFloatIn. Prepare validates the node and prepares the
// weights of the node's kernel type once; Invoke runs the reference, GEMM or
// float-input kernel.
#ifndef STTN_EXPORT_TFLITE_FULLY_CONNECTED_H_
#define STTN_EXPORT_TFLITE_FULLY_CONNECTED_H_

#include "export/tflite/c_api_subset.h"
#include "export/tflite/op_data.h"

namespace sttn {
namespace tflite {
namespace internal {

// Prepare of SttnFullyConnected / SttnFullyConnectedFloatIn.
TfLiteStatus PrepareFullyConnected(TfLiteOpaqueContext* ctx,
                                   TfLiteOpaqueNode* node, OpData* od);

// Invoke of SttnFullyConnected / SttnFullyConnectedFloatIn on input data `x`
// and output data `y`.
TfLiteStatus InvokeFullyConnected(TfLiteOpaqueContext* ctx, OpData* od,
                                  const void* x, void* y);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_FULLY_CONNECTED_H_
