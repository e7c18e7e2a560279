// Float-input depthwise conv2d, optimized: a scalar path (any depth
// multiplier; the compiler vectorizes it) and an AVX2 path for depth
// multiplier 1 (used by the avx2 and avx512 kernel types), both summing in
// the reference's order without FMA, so results are bit-identical.
#include <cstdint>
#include <cstring>

#include "export/core/avx2_epilogue.h"
#include "export/core/conv_loops.h"
#include "export/core/cpu_target.h"
#include "export/core/isa.h"
#include "export/core/kernels.h"

namespace sttn {
namespace core {

#if STTN_X86_DISPATCH
namespace {

// The weights of tap (ky, kx): out_c floats, [kh][kw][out] layout.
inline const float* TapWeights(const ConvShape& s, const float* w_float, int ky,
                               int kx) {
  return w_float + static_cast<int64_t>(ky * s.kernel_w + kx) * s.out_c;
}
namespace avx2 {

using avx2_epilogue::Epilogue8;

// Float-input depthwise, depth multiplier 1: for each output pixel, 32 (then
// 8, then a masked tail of) channels are accumulated over the valid taps in
// the reference's order (ky, then kx), `acc = acc + x * w` without FMA, so the
// result is bit-identical to the reference.
__attribute__((target("avx2"))) void DepthwiseFloatM1(
    const ConvShape& s, const float* x, const float* w_float,
    const float* scale, const float* bias, Activation act, float* out) {
  const int c_count = s.out_c;
  const bool relu = act == Activation::kRelu;
  const int tail = c_count % 8;
  const __m256i tail_mask = _mm256_cmpgt_epi32(
      _mm256_set1_epi32(tail), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int n = 0; n < s.batch; ++n) {
    for (int oy = 0; oy < s.out_h; ++oy) {
      const int iy0 = oy * s.stride_h - s.pad_top;
      const int ky_begin = iy0 < 0 ? -iy0 : 0;
      const int ky_end = iy0 + s.kernel_h > s.in_h ? s.in_h - iy0 : s.kernel_h;
      for (int ox = 0; ox < s.out_w; ++ox) {
        const int ix0 = ox * s.stride_w - s.pad_left;
        const int kx_begin = ix0 < 0 ? -ix0 : 0;
        const int kx_end =
            ix0 + s.kernel_w > s.in_w ? s.in_w - ix0 : s.kernel_w;
        float* o_row =
            out +
            ((static_cast<int64_t>(n) * s.out_h + oy) * s.out_w + ox) * c_count;
        // Input pixel (iy0 + ky, ix0 + kx) and tap (ky, kx) as offsets.
        const float* x0 =
            x +
            ((static_cast<int64_t>(n) * s.in_h + iy0) * s.in_w + ix0) * c_count;
        const int64_t x_row = static_cast<int64_t>(s.in_w) * c_count;
        int c = 0;
        for (; c + 32 <= c_count; c += 32) {
          __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
          for (int ky = ky_begin; ky < ky_end; ++ky) {
            for (int kx = kx_begin; kx < kx_end; ++kx) {
              const float* xp = x0 + ky * x_row + kx * c_count + c;
              const float* wp = TapWeights(s, w_float, ky, kx) + c;
              a0 = _mm256_add_ps(
                  a0, _mm256_mul_ps(_mm256_loadu_ps(xp), _mm256_loadu_ps(wp)));
              a1 = _mm256_add_ps(a1, _mm256_mul_ps(_mm256_loadu_ps(xp + 8),
                                                   _mm256_loadu_ps(wp + 8)));
              a2 = _mm256_add_ps(a2, _mm256_mul_ps(_mm256_loadu_ps(xp + 16),
                                                   _mm256_loadu_ps(wp + 16)));
              a3 = _mm256_add_ps(a3, _mm256_mul_ps(_mm256_loadu_ps(xp + 24),
                                                   _mm256_loadu_ps(wp + 24)));
            }
          }
          Epilogue8(a0, scale + c, bias + c, relu, 8, o_row + c);
          Epilogue8(a1, scale + c + 8, bias + c + 8, relu, 8, o_row + c + 8);
          Epilogue8(a2, scale + c + 16, bias + c + 16, relu, 8, o_row + c + 16);
          Epilogue8(a3, scale + c + 24, bias + c + 24, relu, 8, o_row + c + 24);
        }
        for (; c < c_count; c += 8) {
          const bool full = c + 8 <= c_count;
          __m256 a = _mm256_setzero_ps();
          for (int ky = ky_begin; ky < ky_end; ++ky) {
            for (int kx = kx_begin; kx < kx_end; ++kx) {
              const float* xp = x0 + ky * x_row + kx * c_count + c;
              const float* wp = TapWeights(s, w_float, ky, kx) + c;
              const __m256 xv = full ? _mm256_loadu_ps(xp)
                                     : _mm256_maskload_ps(xp, tail_mask);
              const __m256 wv = full ? _mm256_loadu_ps(wp)
                                     : _mm256_maskload_ps(wp, tail_mask);
              a = _mm256_add_ps(a, _mm256_mul_ps(xv, wv));
            }
          }
          if (full) {
            Epilogue8(a, scale + c, bias + c, relu, 8, o_row + c);
          } else {
            // scale/bias end at c_count: read them masked as well.
            __m256 y = _mm256_add_ps(
                _mm256_mul_ps(_mm256_maskload_ps(scale + c, tail_mask), a),
                _mm256_maskload_ps(bias + c, tail_mask));
            if (relu) {
              y = _mm256_and_ps(
                  y, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ));
            }
            _mm256_maskstore_ps(o_row + c, tail_mask, y);
          }
        }
      }
    }
  }
}

}  // namespace avx2
}  // namespace
#endif  // STTN_X86_DISPATCH

void PrepareDepthwiseFloatWeights(const ConvShape& s, const int8_t* w_hwo,
                                  float* w_float) {
  const int64_t count = static_cast<int64_t>(s.kernel_h) * s.kernel_w * s.out_c;
  for (int64_t i = 0; i < count; ++i) w_float[i] = static_cast<float>(w_hwo[i]);
}

namespace {

// Portable float depthwise (and any depth multiplier).
void DepthwiseFloatScalar(const ConvShape& s, const float* x,
                          const float* w_float, const float* scale,
                          const float* bias, Activation act, float* out) {
  const int out_c = s.out_c;
  const int m_count = s.depth_multiplier;
  ForEachOutputPixel(
      s, out, [&](float* __restrict o_row, int n, int oy, int ox) {
        for (int o = 0; o < out_c; ++o) o_row[o] = 0.0f;
        ForEachInputTap(s, oy, ox, [&](int iy, int ix, int ky, int kx) {
          const float* __restrict xr =
              x + InputPixelOffset(s, n, iy, ix, s.in_c);
          const float* __restrict wt =
              w_float + (static_cast<int64_t>(ky) * s.kernel_w + kx) * out_c;
          if (m_count == 1) {
            for (int c = 0; c < out_c; ++c) o_row[c] += xr[c] * wt[c];
          } else {
            for (int c = 0; c < s.in_c; ++c) {
              const float xv = xr[c];
              for (int m = 0; m < m_count; ++m) {
                o_row[c * m_count + m] += xv * wt[c * m_count + m];
              }
            }
          }
        });
        for (int o = 0; o < out_c; ++o) {
          o_row[o] = Epilogue(o_row[o], scale[o], bias[o], act);
        }
      });
}

}  // namespace

void DepthwiseConv2DFloatOptimized(const ConvShape& s, const float* x,
                                   const float* w_float, const float* scale,
                                   const float* bias, Activation act, Isa isa,
                                   float* out) {
#if STTN_X86_DISPATCH
  if (IsaAtLeastAvx2(isa) && s.depth_multiplier == 1) {
    avx2::DepthwiseFloatM1(s, x, w_float, scale, bias, act, out);
    return;
  }
#else
  (void)isa;
#endif
  DepthwiseFloatScalar(s, x, w_float, scale, bias, act, out);
}

}  // namespace core
}  // namespace sttn
