// The conv-like op family (conv_like.h).
#include "export/tflite/conv_like.h"

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

TfLiteStatus InvokeConvLike(TfLiteOpaqueContext* ctx, OpData* od, const void* x,
                            void* y) {
  const bool opt = od->kernel != kReference;
  const float* scale = od->scale.data();
  const float* bias = od->bias.data();
  const core::Activation act = od->activation;
  core::PackedOutput packed;
  const core::PackedOutput* packed_out = PackedOutputFor(od, y, &packed);
  float* out = FloatOutputFor(od, y);
  switch (od->kind) {
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
    default:
      return kTfLiteError;  // not a conv-like op (Prepare never routes one)
  }
  TernarizeFloatOut(
      ctx, od,
      static_cast<int64_t>(od->conv.batch) * od->conv.out_h * od->conv.out_w,
      y);
  return kTfLiteOk;
}

}  // namespace internal
}  // namespace tflite
}  // namespace sttn
