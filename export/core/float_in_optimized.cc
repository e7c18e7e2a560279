// Float-input ternary conv2d and fully connected, optimized: float x trit
// loops over weights expanded to float once, laid out so the innermost loop
// runs over contiguous output channels (the compiler vectorizes it). One
// path for every ISA.
#include "export/core/kernels.h"

namespace sttn {
namespace core {

size_t Conv2DFloatWeightCount(const ConvShape& s) {
  return static_cast<size_t>(s.out_c) * s.kernel_h * s.kernel_w * s.in_c;
}

void PrepareConv2DFloatWeights(const ConvShape& s, const int8_t* w_ohwi,
                               float* w_hwio) {
  const int64_t taps = static_cast<int64_t>(s.kernel_h) * s.kernel_w;
  for (int o = 0; o < s.out_c; ++o) {
    for (int64_t t = 0; t < taps; ++t) {
      for (int c = 0; c < s.in_c; ++c) {
        w_hwio[(t * s.in_c + c) * s.out_c + o] =
            static_cast<float>(w_ohwi[(o * taps + t) * s.in_c + c]);
      }
    }
  }
}

void Conv2DFloatOptimized(const ConvShape& s, const float* x,
                          const float* w_hwio, const float* scale,
                          const float* bias, Activation act, float* out) {
  const int out_c = s.out_c;
  for (int n = 0; n < s.batch; ++n) {
    for (int oy = 0; oy < s.out_h; ++oy) {
      for (int ox = 0; ox < s.out_w; ++ox) {
        float* __restrict o_row =
            out + ((static_cast<int64_t>(n) * s.out_h + oy) * s.out_w + ox) *
                      out_c;
        for (int o = 0; o < out_c; ++o) o_row[o] = 0.0f;
        for (int ky = 0; ky < s.kernel_h; ++ky) {
          const int iy = oy * s.stride_h - s.pad_top + ky;
          if (iy < 0 || iy >= s.in_h) continue;
          for (int kx = 0; kx < s.kernel_w; ++kx) {
            const int ix = ox * s.stride_w - s.pad_left + kx;
            if (ix < 0 || ix >= s.in_w) continue;
            const float* xr =
                x + ((static_cast<int64_t>(n) * s.in_h + iy) * s.in_w + ix) *
                        s.in_c;
            const float* wt =
                w_hwio + (static_cast<int64_t>(ky) * s.kernel_w + kx) *
                             s.in_c * out_c;
            for (int c = 0; c < s.in_c; ++c) {
              const float xv = xr[c];
              if (xv == 0.0f) continue;
              const float* __restrict wc = wt + static_cast<int64_t>(c) * out_c;
              for (int o = 0; o < out_c; ++o) o_row[o] += xv * wc[o];
            }
          }
        }
        for (int o = 0; o < out_c; ++o) {
          o_row[o] = Epilogue(o_row[o], scale[o], bias[o], act);
        }
      }
    }
  }
}

void PrepareFullyConnectedFloatWeights(const FullyConnectedShape& s,
                                       const int8_t* w, float* w_io) {
  for (int o = 0; o < s.out_c; ++o) {
    for (int c = 0; c < s.in_c; ++c) {
      w_io[static_cast<int64_t>(c) * s.out_c + o] =
          static_cast<float>(w[static_cast<int64_t>(o) * s.in_c + c]);
    }
  }
}

void FullyConnectedFloatOptimized(const FullyConnectedShape& s, const float* x,
                                  const float* w_io, const float* scale,
                                  const float* bias, Activation act,
                                  float* out) {
  const int out_c = s.out_c;
  for (int r = 0; r < s.rows; ++r) {
    const float* xr = x + static_cast<int64_t>(r) * s.in_c;
    float* __restrict o_row = out + static_cast<int64_t>(r) * out_c;
    for (int o = 0; o < out_c; ++o) o_row[o] = 0.0f;
    for (int c = 0; c < s.in_c; ++c) {
      const float xv = xr[c];
      if (xv == 0.0f) continue;
      const float* __restrict wc = w_io + static_cast<int64_t>(c) * out_c;
      for (int o = 0; o < out_c; ++o) o_row[o] += xv * wc[o];
    }
    for (int o = 0; o < out_c; ++o) {
      o_row[o] = Epilogue(o_row[o], scale[o], bias[o], act);
    }
  }
}

}  // namespace core
}  // namespace sttn
