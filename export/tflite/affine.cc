// Constants and packed output of the conv / FC op families (affine.h).
#include "export/tflite/affine.h"

#include "export/tflite/tensor_checks.h"

namespace sttn {
namespace tflite {
namespace internal {

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

TfLiteType OutputType(const OpData* od) {
  return od->packed_out ? kTfLiteInt32 : kTfLiteFloat32;
}

bool LoadOutputThresholds(TfLiteOpaqueContext* ctx, OpData* od,
                          TfLiteOpaqueNode* node) {
  return LoadThresholds(ctx, od, TfLiteOpaqueNodeGetInput(ctx, node, 4),
                        "input 4 (`output_thresholds`)", od->out_c,
                        &od->out_thresholds);
}

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

bool NeedsFloatOut(const OpData* od) {
  if (!od->packed_out) return false;
  if (od->kernel == kReference || IsFloatIn(od->kind)) return true;
  if (IsDepthwise(od->kind)) return !od->dw_packed_ok;
  return false;  // the GEMM ternarizes its own tiles
}

const core::PackedOutput* PackedOutputFor(OpData* od, void* y,
                                          core::PackedOutput* packed) {
  if (!od->packed_out) return nullptr;
  packed->thresholds = od->out_thresholds.data();
  packed->out = static_cast<int32_t*>(y);
  packed->int_thresholds =
      od->int_thresholds_ok ? od->int_thresholds.data() : nullptr;
  return packed;
}

float* FloatOutputFor(OpData* od, void* y) {
  return NeedsFloatOut(od) ? od->float_out.data() : static_cast<float*>(y);
}

void TernarizeFloatOut(TfLiteOpaqueContext* ctx, const OpData* od, int64_t rows,
                       void* y) {
  if (!NeedsFloatOut(od)) return;
  if (od->kernel != kReference) {
    core::TernarizeOptimized(od->float_out.data(), rows, od->out_c,
                             od->out_thresholds.data(), od->isa,
                             static_cast<int32_t*>(y), NumThreads(ctx));
  } else {
    core::TernarizeReference(od->float_out.data(), rows, od->out_c,
                             od->out_thresholds.data(),
                             static_cast<int32_t*>(y));
  }
}

}  // namespace internal
}  // namespace tflite
}  // namespace sttn
