// The loop nests shared by the direct (non-GEMM) conv kernels: the reference
// conv2d / depthwise kernels and the float-input optimized ones. Each visits
// output pixels in NHWC order and, per pixel, the kernel taps that fall
// inside the input (padding taps are skipped, as TFLite's SAME padding
// reads zeros there). Header-only so the callers' lambdas inline.
#ifndef STTN_EXPORT_CORE_CONV_LOOPS_H_
#define STTN_EXPORT_CORE_CONV_LOOPS_H_

#include <cstdint>

#include "export/core/kernels.h"

namespace sttn {
namespace core {

// Offset of input pixel (n, iy, ix) in elements, for rows of `row_width`.
inline int64_t InputPixelOffset(const ConvShape& s, int n, int iy, int ix,
                                int row_width) {
  return ((static_cast<int64_t>(n) * s.in_h + iy) * s.in_w + ix) * row_width;
}

// Offset of output pixel (n, oy, ox) in floats.
inline int64_t OutputPixelOffset(const ConvShape& s, int n, int oy, int ox) {
  return ((static_cast<int64_t>(n) * s.out_h + oy) * s.out_w + ox) * s.out_c;
}

// Calls pixel(o_row, n, oy, ox) for every output pixel, o_row pointing at
// its out_c floats.
template <typename PixelFn>
inline void ForEachOutputPixel(const ConvShape& s, float* out, PixelFn pixel) {
  for (int n = 0; n < s.batch; ++n) {
    for (int oy = 0; oy < s.out_h; ++oy) {
      for (int ox = 0; ox < s.out_w; ++ox) {
        pixel(out + OutputPixelOffset(s, n, oy, ox), n, oy, ox);
      }
    }
  }
}

// Calls tap(iy, ix, ky, kx) for the taps of output pixel (oy, ox) that fall
// inside the input, in (ky, kx) order.
template <typename TapFn>
inline void ForEachInputTap(const ConvShape& s, int oy, int ox, TapFn tap) {
  for (int ky = 0; ky < s.kernel_h; ++ky) {
    const int iy = oy * s.stride_h - s.pad_top + ky;
    if (iy < 0 || iy >= s.in_h) continue;
    for (int kx = 0; kx < s.kernel_w; ++kx) {
      const int ix = ox * s.stride_w - s.pad_left + kx;
      if (ix < 0 || ix >= s.in_w) continue;
      tap(iy, ix, ky, kx);
    }
  }
}

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_CONV_LOOPS_H_
