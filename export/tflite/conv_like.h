// The conv-like op family: SttnConv2D, SttnDepthwiseConv2D and their
// FloatIn twins (NHWC windows over the input). Prepare validates the node,
// computes the output shape and prepares the weights of the node's kernel type
// once; Invoke runs the reference, GEMM, depthwise or float-input kernel.
#ifndef STTN_EXPORT_TFLITE_CONV_LIKE_H_
#define STTN_EXPORT_TFLITE_CONV_LIKE_H_

#include "export/tflite/c_api_subset.h"
#include "export/tflite/op_data.h"

namespace sttn {
namespace tflite {
namespace internal {

// Prepare of the conv and depthwise ops (packed ternary or float input).
TfLiteStatus PrepareConvLike(TfLiteOpaqueContext* ctx, TfLiteOpaqueNode* node,
                             OpData* od);

// Invoke of the conv and depthwise ops on input data `x` and output data
// `y`.
TfLiteStatus InvokeConvLike(TfLiteOpaqueContext* ctx, OpData* od, const void* x,
                            void* y);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_CONV_LIKE_H_
