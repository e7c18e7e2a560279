// The fully connected op family (fully_connected.h).
#include "export/tflite/fully_connected.h"

#include <cstddef>
#include <cstdint>

#include "export/core/kernels.h"
#include "export/core/packing.h"
#include "export/core/ternary_gemm.h"
#include "export/tflite/affine.h"
#include "export/tflite/tensor_checks.h"

namespace sttn {
namespace tflite {
namespace internal {

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

TfLiteStatus InvokeFullyConnected(TfLiteOpaqueContext* ctx, OpData* od,
                                  const void* x, void* y) {
  const bool opt = od->kernel != kReference;
  const float* scale = od->scale.data();
  const float* bias = od->bias.data();
  const core::Activation act = od->activation;
  core::PackedOutput packed;
  const core::PackedOutput* packed_out = PackedOutputFor(od, y, &packed);
  float* out = FloatOutputFor(od, y);
  if (IsFloatIn(od->kind)) {
    if (opt) {
      core::FullyConnectedFloatOptimized(od->fc, static_cast<const float*>(x),
                                         od->w_float.data(), scale, bias, act,
                                         out);
    } else {
      core::FullyConnectedFloatReference(od->fc, static_cast<const float*>(x),
                                         od->w_trits.data(), scale, bias, act,
                                         out);
    }
  } else {
    if (opt) {
      core::FullyConnectedTernaryGemm(
          od->isa, od->fc, static_cast<const int32_t*>(x), od->gemm.data(), act,
          NumThreads(ctx), od->scratch.data(), out, packed_out);
    } else {
      core::FullyConnectedTernaryReference(
          od->fc, static_cast<const int32_t*>(x), od->w_trits.data(), scale,
          bias, act, out);
    }
  }
  TernarizeFloatOut(ctx, od, od->fc.rows, y);
  return kTfLiteOk;
}

}  // namespace internal
}  // namespace tflite
}  // namespace sttn
