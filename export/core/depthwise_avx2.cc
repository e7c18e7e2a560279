// Ternary-input depthwise, AVX2 path (also run by the avx512 kernel type):
// 32 channels per register, `vpsignb` (w * x for w, x in {-1, 0, 1})
// accumulated in int8 (|acc| <= kh * kw <= 127 is exact; the driver takes
// the portable path for larger kernels). Packed outputs compare the int8
// accumulators with the int8 thresholds (vpcmpgtb + vpmovmskb give a
// 32-channel mask word at once); float outputs widen to int32 and go
// through the shared AVX2 epilogue.
#include <cstdint>

#include "export/core/avx2_epilogue.h"
#include "export/core/depthwise_internal.h"

namespace sttn {
namespace core {
namespace depthwise {

#if STTN_X86_DISPATCH
namespace {

#define STTN_AVX2 __attribute__((target("avx2")))

#define STTN_AVX2 __attribute__((target("avx2")))

// 32 trits of one (mask, sign) block to 32 int8 lanes.
STTN_AVX2 STTN_ALWAYS_INLINE void DecodeBlock(uint32_t mask, uint32_t sign,
                                              int8_t* d) {
  // Byte j of the result looks at byte j / 8 of the word, bit j % 8.
  const __m256i spread =
      _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2,
                       2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3);
  const __m256i bits = _mm256_set1_epi64x(0x8040201008040201ll);
  const __m256i ones = _mm256_set1_epi8(1);
  const __m256i m = _mm256_cmpeq_epi8(
      _mm256_and_si256(_mm256_shuffle_epi8(
                           _mm256_set1_epi32(static_cast<int>(mask)), spread),
                       bits),
      bits);
  const __m256i sg = _mm256_cmpeq_epi8(
      _mm256_and_si256(_mm256_shuffle_epi8(
                           _mm256_set1_epi32(static_cast<int>(sign)), spread),
                       bits),
      bits);
  // (mask ? 1 : 0) * (sign ? -1 : +1)
  const __m256i t =
      _mm256_sign_epi8(_mm256_and_si256(m, ones), _mm256_or_si256(sg, ones));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), t);
}

using avx2_epilogue::Epilogue8;

// Float epilogue of 32 int8 accumulators (channels c0 .. c0 + 31).
STTN_AVX2 STTN_ALWAYS_INLINE void Epilogue32(__m256i acc, const float* sp,
                                             const float* bp, bool relu,
                                             int valid, float* dst) {
  const __m128i lo = _mm256_castsi256_si128(acc);
  const __m128i hi = _mm256_extracti128_si256(acc, 1);
  const __m128i q[4] = {lo, _mm_srli_si128(lo, 8), hi, _mm_srli_si128(hi, 8)};
  for (int k = 0; k < 4; ++k) {
    const __m256 a = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q[k]));
    Epilogue8(a, sp + 8 * k, bp + 8 * k, relu, valid - 8 * k, dst + 8 * k);
  }
}

// One output row; KH/KW > 0 fix the kernel size at compile time (the taps'
// weight vectors then stay in registers across the row), 0 = run time.
template <int KH, int KW>
STTN_AVX2 void Row(const Job& j, const int8_t** rows, int n, int oy) {
  const ConvShape& s = *j.s;
  const int cp = j.pl.cp;
  const int kh = KH > 0 ? KH : s.kernel_h;
  const int kw = KW > 0 ? KW : s.kernel_w;
  const int8_t* wpad = j.Constant<int8_t>(j.pl.weights);
  const float* sp = j.Constant<float>(j.pl.scale);
  const float* bp = j.Constant<float>(j.pl.bias);
  const int8_t* up8 = j.Constant<int8_t>(j.pl.upper8);
  const int8_t* lo8 = j.Constant<int8_t>(j.pl.lower8);
  const uint32_t* flips = j.Constant<uint32_t>(j.pl.flip_bits);
  const bool relu = j.act == Activation::kRelu;
  const int64_t step = static_cast<int64_t>(s.stride_w) * cp;
  const int64_t pixel0 = (static_cast<int64_t>(n) * s.out_h + oy) * s.out_w;
  const int width_out = PackedWidth(s.out_c);
  // Locals, not reads through j and s: the stores below could alias them.
  const int out_w = s.out_w;
  const int out_c = s.out_c;
  uint32_t* const packed = reinterpret_cast<uint32_t*>(j.packed);
  float* const out = j.out;
  for (int c0 = 0; c0 < cp; c0 += 32) {
    const int valid = out_c - c0;
    __m256i wv[KH > 0 ? KH * KW : 1];
    if (KH > 0) {
      for (int t = 0; t < KH * KW; ++t) {
        wv[t] = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(wpad + t * cp + c0));
      }
    }
    const __m256i u8 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(up8 + c0));
    const __m256i l8 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lo8 + c0));
    const uint32_t flip = flips[c0 / 32];
    const uint32_t valid_bits = valid >= 32 ? 0xffffffffu : (1u << valid) - 1u;
    // The taps' row pointers (fixed kernel sizes: advanced per pixel).
    const int8_t* xr[KH > 0 ? KH : 1];
    if (KH > 0) {
      for (int ky = 0; ky < KH; ++ky) xr[ky] = rows[ky] + c0;
    }
    uint32_t* pdst = packed != nullptr
                         ? packed + pixel0 * width_out + 2 * (c0 / 32)
                         : nullptr;
    float* fdst = out != nullptr ? out + pixel0 * out_c + c0 : nullptr;
    for (int ox = 0; ox < out_w; ++ox) {
      __m256i acc = _mm256_setzero_si256();
      for (int ky = 0; ky < kh; ++ky) {
        const int8_t* x = KH > 0 ? xr[ky] : rows[ky] + ox * step + c0;
        for (int kx = 0; kx < kw; ++kx) {
          const __m256i xv =
              _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + kx * cp));
          const __m256i w =
              KH > 0
                  ? wv[ky * KW + kx]
                  : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                        wpad + static_cast<int64_t>(ky * kw + kx) * cp + c0));
          acc = _mm256_add_epi8(acc, _mm256_sign_epi8(xv, w));
        }
      }
      if (pdst != nullptr) {
        const uint32_t ge = static_cast<uint32_t>(
            _mm256_movemask_epi8(_mm256_cmpgt_epi8(acc, u8)));
        const uint32_t le = ~static_cast<uint32_t>(
            _mm256_movemask_epi8(_mm256_cmpgt_epi8(acc, l8)));
        const uint32_t mask = (ge ^ le) & valid_bits;
        pdst[0] = mask;
        pdst[1] = mask & (le ^ flip);
        pdst += width_out;
      } else {
        Epilogue32(acc, sp + c0, bp + c0, relu, valid, fdst);
        fdst += out_c;
      }
      if (KH > 0) {
        for (int ky = 0; ky < KH; ++ky) xr[ky] += step;
      }
    }
  }
}

STTN_AVX2 void DecodeRowAvx2(const ConvShape& s, int cp, int64_t wp,
                             const uint32_t* x_row, int8_t* dst) {
  if (s.depth_multiplier != 1) {
    DecodeRow(s, cp, wp, x_row, dst, DecodeBlockScalar);
    return;
  }
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const int64_t cols = wp - s.pad_left < s.in_w ? wp - s.pad_left : s.in_w;
  for (int64_t ix = 0; ix < cols; ++ix) {
    const uint32_t* px = x_row + ix * width;
    int8_t* d = dst + (ix + s.pad_left) * cp;
    for (int b = 0; b < blocks; ++b)
      DecodeBlock(px[2 * b], px[2 * b + 1], d + 32 * b);
  }
}

void ItemAvx2(void* ctx, int64_t item, int worker) {
  const Job& j = *static_cast<const Job*>(ctx);
  const ConvShape& s = *j.s;
  auto decode = [&](const uint32_t* x_row, int8_t* dst) {
    DecodeRowAvx2(s, j.pl.cp, j.tl.wp, x_row, dst);
  };
  auto row_fn = [&](const int8_t** r, uint8_t*, int n, int oy) {
    if (s.kernel_h == 3 && s.kernel_w == 3) {
      Row<3, 3>(j, r, n, oy);
    } else if (s.kernel_h == 5 && s.kernel_w == 5) {
      Row<5, 5>(j, r, n, oy);
    } else {
      Row<0, 0>(j, r, n, oy);
    }
  };
  RunBand(j, item, worker, decode, row_fn);
}

}  // namespace

ParallelFn Avx2Item() { return ItemAvx2; }
#else
ParallelFn Avx2Item() { return nullptr; }
#endif  // STTN_X86_DISPATCH

}  // namespace depthwise
}  // namespace core
}  // namespace sttn
