// Float-input ternary conv2d and fully connected, optimized: float x trit
// loops over weights expanded to float once, laid out so the innermost loop
// runs over contiguous output channels (the compiler vectorizes it). One
// path for every ISA.
#include "export/core/conv_loops.h"
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

// Adds x[c] * w[c][:] to a row of `out_c` sums for every channel c of one
// input pixel (zeros skipped): the inner loop of the float-input conv2d and
// fully connected kernels, over contiguous output channels.
static inline void AccumulateRow(const float* xr, int in_c, const float* w_io,
                                 int out_c, float* __restrict o_row) {
  for (int c = 0; c < in_c; ++c) {
    const float xv = xr[c];
    if (xv == 0.0f) continue;
    const float* __restrict wc = w_io + static_cast<int64_t>(c) * out_c;
    for (int o = 0; o < out_c; ++o) o_row[o] += xv * wc[o];
  }
}

static inline void RowEpilogue(const float* scale, const float* bias,
                               Activation act, int out_c, float* o_row) {
  for (int o = 0; o < out_c; ++o) {
    o_row[o] = Epilogue(o_row[o], scale[o], bias[o], act);
  }
}

void Conv2DFloatOptimized(const ConvShape& s, const float* x,
                          const float* w_hwio, const float* scale,
                          const float* bias, Activation act, float* out) {
  const int out_c = s.out_c;
  ForEachOutputPixel(s, out, [&](float* o_row, int n, int oy, int ox) {
    for (int o = 0; o < out_c; ++o) o_row[o] = 0.0f;
    ForEachInputTap(s, oy, ox, [&](int iy, int ix, int ky, int kx) {
      const float* wt = w_hwio + (static_cast<int64_t>(ky) * s.kernel_w + kx) *
                                     s.in_c * out_c;
      AccumulateRow(x + InputPixelOffset(s, n, iy, ix, s.in_c), s.in_c, wt,
                    out_c, o_row);
    });
    RowEpilogue(scale, bias, act, out_c, o_row);
  });
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
    float* o_row = out + static_cast<int64_t>(r) * out_c;
    for (int o = 0; o < out_c; ++o) o_row[o] = 0.0f;
    AccumulateRow(x + static_cast<int64_t>(r) * s.in_c, s.in_c, w_io, out_c,
                  o_row);
    RowEpilogue(scale, bias, act, out_c, o_row);
  }
}

}  // namespace core
}  // namespace sttn
