// Reference kernels and shape rules: plain loops over int8 trits, the oracle
// every other variant is tested against.
#include <climits>

#include "export/core/conv_loops.h"
#include "export/core/kernels.h"

namespace sttn {
namespace core {

Status ComputeOutputSize(int in, int kernel, int stride, Padding padding,
                         int* out, int* pad_before) {
  if (in < 1 || kernel < 1 || stride < 1) {
    return Status::Error("sizes must be >= 1 (input %d, kernel %d, stride %d)",
                         in, kernel, stride);
  }
  if (padding == Padding::kValid) {
    const int64_t span = static_cast<int64_t>(in) - kernel + 1;
    if (span < 1) {
      return Status::Error(
          "VALID padding with input %d and kernel %d gives an empty output", in,
          kernel);
    }
    *out = static_cast<int>((span + stride - 1) / stride);
    *pad_before = 0;
  } else {
    const int64_t o = (static_cast<int64_t>(in) + stride - 1) / stride;
    int64_t pad_total = (o - 1) * stride + kernel - in;
    if (pad_total < 0) pad_total = 0;
    *out = static_cast<int>(o);
    *pad_before = static_cast<int>(pad_total / 2);
  }
  return Status::Ok();
}

Status ComputeConvShape(int batch, int in_h, int in_w, int in_c, int out_c,
                        int kernel_h, int kernel_w, int stride_h, int stride_w,
                        Padding padding, int depth_multiplier,
                        ConvShape* shape) {
  if (batch < 1 || in_c < 1 || out_c < 1) {
    return Status::Error(
        "batch, in_channels and out_channels must be >= 1 (got %d, %d, %d)",
        batch, in_c, out_c);
  }
  if (depth_multiplier < 0) {
    return Status::Error("depth_multiplier must be >= 1, got %d",
                         depth_multiplier);
  }
  if (depth_multiplier >= 1 &&
      static_cast<int64_t>(in_c) * depth_multiplier != out_c) {
    return Status::Error(
        "out_channels %d != in_channels %d * depth_multiplier %d", out_c, in_c,
        depth_multiplier);
  }
  ConvShape s;
  s.batch = batch;
  s.in_h = in_h;
  s.in_w = in_w;
  s.in_c = in_c;
  s.out_c = out_c;
  s.kernel_h = kernel_h;
  s.kernel_w = kernel_w;
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.depth_multiplier = depth_multiplier >= 1 ? depth_multiplier : 1;
  Status st = ComputeOutputSize(in_h, kernel_h, stride_h, padding, &s.out_h,
                                &s.pad_top);
  if (!st.ok()) return st;
  st = ComputeOutputSize(in_w, kernel_w, stride_w, padding, &s.out_w,
                         &s.pad_left);
  if (!st.ok()) return st;
  const int64_t out_elems = static_cast<int64_t>(batch) * s.out_h * s.out_w *
                            static_cast<int64_t>(out_c);
  const int64_t in_elems =
      static_cast<int64_t>(batch) * in_h * in_w *
      static_cast<int64_t>(PackedWidth(in_c) > in_c ? PackedWidth(in_c) : in_c);
  const int64_t w_elems =
      static_cast<int64_t>(out_c) * kernel_h * kernel_w * in_c;
  if (out_elems > INT_MAX || in_elems > INT_MAX || w_elems > INT_MAX) {
    return Status::Error("tensor sizes beyond 2^31 elements are not supported");
  }
  *shape = s;
  return Status::Ok();
}

Status ComputeFullyConnectedShape(int64_t rows, int in_c, int out_c,
                                  FullyConnectedShape* shape) {
  if (rows < 1 || in_c < 1 || out_c < 1) {
    return Status::Error(
        "rows, in_channels and out_channels must be >= 1 (got %lld, %d, %d)",
        static_cast<long long>(rows), in_c, out_c);
  }
  if (rows * static_cast<int64_t>(out_c) > INT_MAX ||
      rows * static_cast<int64_t>(PackedWidth(in_c) + in_c) > INT_MAX ||
      static_cast<int64_t>(in_c) * out_c > INT_MAX) {
    return Status::Error("tensor sizes beyond 2^31 elements are not supported");
  }
  shape->rows = static_cast<int>(rows);
  shape->in_c = in_c;
  shape->out_c = out_c;
  return Status::Ok();
}

// ---------------------------------------------------------------------------
Status ValidateThresholds(const float* thresholds, int channels) {
  const float* sgn = thresholds + 2 * static_cast<int64_t>(channels);
  for (int c = 0; c < channels; ++c) {
    if (!(sgn[c] == 1.0f || sgn[c] == -1.0f)) {
      return Status::Error("thresholds[2, %d] (sgn) must be +1 or -1, got %g",
                           c, static_cast<double>(sgn[c]));
    }
  }
  return Status::Ok();
}

void TernarizeReference(const float* x, int64_t rows, int channels,
                        const float* thresholds, int32_t* out) {
  const TernarizeThresholds th(thresholds, channels);
  const float *lo = th.lo, *hi = th.hi, *sgn = th.sgn;
  const int width = PackedWidth(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    int32_t* o = out + r * width;
    for (int w = 0; w < width; ++w) o[w] = 0;
    for (int c = 0; c < channels; ++c) {
      const int t =
          static_cast<int>(sgn[c]) *
          (static_cast<int>(xr[c] > hi[c]) - static_cast<int>(xr[c] < lo[c]));
      const uint32_t bit = 1u << (c & 31);
      if (t != 0) {
        o[2 * (c >> 5)] =
            static_cast<int32_t>(static_cast<uint32_t>(o[2 * (c >> 5)]) | bit);
      }
      if (t < 0) {
        o[2 * (c >> 5) + 1] = static_cast<int32_t>(
            static_cast<uint32_t>(o[2 * (c >> 5) + 1]) | bit);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Conv2D, depthwise and fully connected references: one loop nest each,
// parameterised by how an input element is read (a trit of the packed
// activations, or a float) and the accumulator type (exact int32, or float
// summed in (tap, channel) order).
namespace {

template <typename Acc, typename TapDot>
void ConvReference(const ConvShape& s, const float* scale, const float* bias,
                   Activation act, float* out, TapDot tap_dot) {
  ForEachOutputPixel(s, out, [&](float* o_row, int n, int oy, int ox) {
    for (int o = 0; o < s.out_c; ++o) {
      Acc acc = 0;
      ForEachInputTap(s, oy, ox, [&](int iy, int ix, int ky, int kx) {
        acc += tap_dot(n, iy, ix, ky, kx, o);
      });
      o_row[o] = Epilogue(static_cast<float>(acc), scale[o], bias[o], act);
    }
  });
}

// Weights of output channel o at tap (ky, kx), OHWI.
inline const int8_t* ConvWeights(const ConvShape& s, const int8_t* w_ohwi,
                                 int o, int ky, int kx) {
  return w_ohwi +
         ((static_cast<int64_t>(o) * s.kernel_h + ky) * s.kernel_w + kx) *
             s.in_c;
}

// Weight of output channel o at tap (ky, kx), depthwise HWO.
inline int8_t DepthwiseWeight(const ConvShape& s, const int8_t* w_hwo, int o,
                              int ky, int kx) {
  return w_hwo[(static_cast<int64_t>(ky) * s.kernel_w + kx) * s.out_c + o];
}

template <typename Acc, typename RowDot>
void FullyConnectedReference(const FullyConnectedShape& s, const int8_t* w,
                             const float* scale, const float* bias,
                             Activation act, float* out, RowDot row_dot) {
  for (int r = 0; r < s.rows; ++r) {
    for (int o = 0; o < s.out_c; ++o) {
      const Acc acc = row_dot(r, w + static_cast<int64_t>(o) * s.in_c);
      out[static_cast<int64_t>(r) * s.out_c + o] =
          Epilogue(static_cast<float>(acc), scale[o], bias[o], act);
    }
  }
}

}  // namespace

void Conv2DTernaryReference(const ConvShape& s, const int32_t* x_packed,
                            const int8_t* w_ohwi, const float* scale,
                            const float* bias, Activation act, float* out) {
  const int width = PackedWidth(s.in_c);
  ConvReference<int32_t>(s, scale, bias, act, out,
                         [&](int n, int iy, int ix, int ky, int kx, int o) {
                           const int32_t* xr =
                               x_packed + InputPixelOffset(s, n, iy, ix, width);
                           const int8_t* wr = ConvWeights(s, w_ohwi, o, ky, kx);
                           int32_t dot = 0;
                           for (int c = 0; c < s.in_c; ++c)
                             dot += TritAt(xr, c) * wr[c];
                           return dot;
                         });
}

void Conv2DFloatReference(const ConvShape& s, const float* x,
                          const int8_t* w_ohwi, const float* scale,
                          const float* bias, Activation act, float* out) {
  // Accumulates straight into the pixel's sum (no per-tap partial sums), so
  // the float rounding order is (tap, channel) as in the optimized kernel.
  ForEachOutputPixel(s, out, [&](float* o_row, int n, int oy, int ox) {
    for (int o = 0; o < s.out_c; ++o) {
      float acc = 0.0f;
      ForEachInputTap(s, oy, ox, [&](int iy, int ix, int ky, int kx) {
        const float* xr = x + InputPixelOffset(s, n, iy, ix, s.in_c);
        const int8_t* wr = ConvWeights(s, w_ohwi, o, ky, kx);
        for (int c = 0; c < s.in_c; ++c) {
          acc += xr[c] * static_cast<float>(wr[c]);
        }
      });
      o_row[o] = Epilogue(acc, scale[o], bias[o], act);
    }
  });
}

// ---------------------------------------------------------------------------
// Fully connected reference.
void FullyConnectedTernaryReference(const FullyConnectedShape& s,
                                    const int32_t* x_packed, const int8_t* w,
                                    const float* scale, const float* bias,
                                    Activation act, float* out) {
  const int width = PackedWidth(s.in_c);
  FullyConnectedReference<int32_t>(
      s, w, scale, bias, act, out, [&](int r, const int8_t* wr) {
        const int32_t* xr = x_packed + static_cast<int64_t>(r) * width;
        int32_t acc = 0;
        for (int c = 0; c < s.in_c; ++c) acc += TritAt(xr, c) * wr[c];
        return acc;
      });
}

void FullyConnectedFloatReference(const FullyConnectedShape& s, const float* x,
                                  const int8_t* w, const float* scale,
                                  const float* bias, Activation act,
                                  float* out) {
  FullyConnectedReference<float>(
      s, w, scale, bias, act, out, [&](int r, const int8_t* wr) {
        const float* xr = x + static_cast<int64_t>(r) * s.in_c;
        float acc = 0.0f;
        for (int c = 0; c < s.in_c; ++c) {
          acc += xr[c] * static_cast<float>(wr[c]);
        }
        return acc;
      });
}

// ---------------------------------------------------------------------------
// Depthwise reference.
void DepthwiseConv2DTernaryReference(const ConvShape& s,
                                     const int32_t* x_packed,
                                     const int8_t* w_hwo, const float* scale,
                                     const float* bias, Activation act,
                                     float* out) {
  const int width = PackedWidth(s.in_c);
  ConvReference<int32_t>(s, scale, bias, act, out,
                         [&](int n, int iy, int ix, int ky, int kx, int o) {
                           const int32_t* xr =
                               x_packed + InputPixelOffset(s, n, iy, ix, width);
                           return TritAt(xr, o / s.depth_multiplier) *
                                  DepthwiseWeight(s, w_hwo, o, ky, kx);
                         });
}

void DepthwiseConv2DFloatReference(const ConvShape& s, const float* x,
                                   const int8_t* w_hwo, const float* scale,
                                   const float* bias, Activation act,
                                   float* out) {
  ConvReference<float>(
      s, scale, bias, act, out,
      [&](int n, int iy, int ix, int ky, int kx, int o) {
        const float xv =
            x[InputPixelOffset(s, n, iy, ix, s.in_c) + o / s.depth_multiplier];
        return xv * static_cast<float>(DepthwiseWeight(s, w_hwo, o, ky, kx));
      });
}

}  // namespace core
}  // namespace sttn
