// The SttnTernarize op family (ternarize.h).
#include "export/tflite/ternarize.h"

#include <climits>
#include <cstdint>

#include "export/core/kernels.h"
#include "export/core/packing.h"
#include "export/tflite/tensor_checks.h"

namespace sttn {
namespace tflite {
namespace internal {

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

TfLiteStatus InvokeTernarize(TfLiteOpaqueContext* ctx, OpData* od,
                             const void* x, void* y) {
  if (od->kernel != kReference) {
    core::TernarizeOptimized(static_cast<const float*>(x), od->rows,
                             od->channels, od->thresholds.data(), od->isa,
                             static_cast<int32_t*>(y), NumThreads(ctx));
  } else {
    core::TernarizeReference(static_cast<const float*>(x), od->rows,
                             od->channels, od->thresholds.data(),
                             static_cast<int32_t*>(y));
  }
  return kTfLiteOk;
}

}  // namespace internal
}  // namespace tflite
}  // namespace sttn
