// Depthwise conv2d, optimized (ternary and float input): see the comment
// below. AVX2 paths serve the avx2 and avx512 kernel types; the scalar
// paths serve the others (the compiler vectorizes them for NEON).
#include <cstdint>
#include <cstring>

#include "export/core/isa.h"
#include "export/core/kernels.h"

#if defined(__GNUC__)
#define STTN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define STTN_ALWAYS_INLINE inline
#endif

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define STTN_X86_DISPATCH 1
#include <immintrin.h>
#else
#define STTN_X86_DISPATCH 0
#endif

namespace sttn {
namespace core {

// ---------------------------------------------------------------------------
// Depthwise conv2d.
//
// Ternary input: each input row the current output row needs is decoded once
// into int8 lanes (one trit per byte, output-channel order, so a depth
// multiplier M > 1 is expanded here: lane c * M + m holds input channel c)
// in a ring of kernel_h row slots; slot columns are the padded input columns
// (pad_left zeros first), so border taps read zeros instead of being
// skipped, and rows above/below the image point at one zero row. Then every
// output is a sum over taps of int8 products along contiguous lanes: on AVX2
// `vpsignb` (w * x for w, x in {-1, 0, 1}) accumulated in int8 over 32
// channels (|acc| <= kh * kw <= 127 is exact), else a scalar int32 loop.
namespace {

constexpr int kDwMaxInt8Taps = 127;  // int8 accumulators cannot overflow

struct DepthwiseLayout {
  int cp = 0;          // lanes per decoded pixel: out_c rounded up to 32
  int64_t wp = 0;      // pixels per decoded row (padded input columns)
  size_t weights = 0;  // int8 [kh * kw][cp], zero past out_c
  size_t scale = 0;    // float [cp]
  size_t bias = 0;     // float [cp]
  size_t acc = 0;      // int32 [cp] (scalar path)
  size_t row_ptrs = 0; // const int8_t* [kh]: the rows of one output row
  size_t rows = 0;     // int8 [kh + 1][wp][cp]; the last row stays zero
  size_t total = 0;
};

size_t AlignUp64(size_t v) { return (v + 63) & ~static_cast<size_t>(63); }

DepthwiseLayout MakeDepthwiseLayout(const ConvShape& s) {
  DepthwiseLayout l;
  l.cp = (s.out_c + 31) / 32 * 32;
  l.wp = static_cast<int64_t>(s.out_w - 1) * s.stride_w + s.kernel_w;
  const size_t cp = static_cast<size_t>(l.cp);
  const size_t taps = static_cast<size_t>(s.kernel_h) * s.kernel_w;
  size_t at = 0;
  l.weights = at;
  at = AlignUp64(at + taps * cp);
  l.scale = at;
  at = AlignUp64(at + cp * sizeof(float));
  l.bias = at;
  at = AlignUp64(at + cp * sizeof(float));
  l.acc = at;
  at = AlignUp64(at + cp * sizeof(int32_t));
  l.row_ptrs = at;
  at = AlignUp64(at + static_cast<size_t>(s.kernel_h) * sizeof(const int8_t*));
  l.rows = at;
  at += (static_cast<size_t>(s.kernel_h) + 1) * static_cast<size_t>(l.wp) * cp;
  l.total = at + 64;  // room to align the scratch base to 64 bytes
  return l;
}

// Decodes the input columns of row (n, iy) that the padded row holds.
// `dst` is the slot; its pad columns and lanes past out_c are already zero.
template <typename DecodeBlock>
STTN_ALWAYS_INLINE void DecodeDepthwiseRow(const ConvShape& s,
                                           const DepthwiseLayout& l,
                                           const uint32_t* x_row,
                                           int8_t* dst, DecodeBlock decode) {
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const int64_t cols = l.wp - s.pad_left < s.in_w ? l.wp - s.pad_left : s.in_w;
  const int m_count = s.depth_multiplier;
  for (int64_t ix = 0; ix < cols; ++ix) {
    const uint32_t* px = x_row + ix * width;
    int8_t* d = dst + (ix + s.pad_left) * l.cp;
    if (m_count == 1) {
      for (int b = 0; b < blocks; ++b) decode(px[2 * b], px[2 * b + 1], d + 32 * b);
    } else {
      for (int c = 0; c < s.in_c; ++c) {
        const int8_t t = static_cast<int8_t>(
            TritAt(reinterpret_cast<const int32_t*>(px), c));
        for (int m = 0; m < m_count; ++m) d[c * m_count + m] = t;
      }
    }
  }
}

STTN_ALWAYS_INLINE void DecodeBlockScalar(uint32_t mask, uint32_t sign,
                                          int8_t* d) {
  for (int j = 0; j < 32; ++j) {
    const int nz = (mask >> j) & 1;
    const int neg = (sign >> j) & 1;
    d[j] = static_cast<int8_t>(nz * (1 - 2 * neg));
  }
}

// Row-slot bookkeeping shared by both paths: calls
// row_fn(rows, out_row) once per output row, where rows[ky] points at the
// decoded padded input row oy * stride_h - pad_top + ky (or the zero row).
template <typename DecodeRow, typename RowFn>
STTN_ALWAYS_INLINE void DepthwiseTernaryDriver(
    const ConvShape& s, const DepthwiseLayout& l, const int32_t* x_packed,
    const int8_t* w_hwo, const float* scale, const float* bias,
    uint8_t* base, const int8_t** rows, float* out, DecodeRow decode_row,
    RowFn row_fn) {
  const int taps = s.kernel_h * s.kernel_w;
  int8_t* wpad = reinterpret_cast<int8_t*>(base + l.weights);
  float* spad = reinterpret_cast<float*>(base + l.scale);
  float* bpad = reinterpret_cast<float*>(base + l.bias);
  int8_t* ring = reinterpret_cast<int8_t*>(base + l.rows);
  const int64_t row_bytes = l.wp * l.cp;
  std::memset(wpad, 0, static_cast<size_t>(taps) * l.cp);
  for (int t = 0; t < taps; ++t) {
    std::memcpy(wpad + static_cast<int64_t>(t) * l.cp,
                w_hwo + static_cast<int64_t>(t) * s.out_c, s.out_c);
  }
  for (int o = 0; o < l.cp; ++o) {
    spad[o] = o < s.out_c ? scale[o] : 0.0f;
    bpad[o] = o < s.out_c ? bias[o] : 0.0f;
  }
  std::memset(ring, 0, static_cast<size_t>(s.kernel_h + 1) * row_bytes);
  const int8_t* zero_row = ring + static_cast<int64_t>(s.kernel_h) * row_bytes;
  const int width = PackedWidth(s.in_c);
  const uint32_t* x = reinterpret_cast<const uint32_t*>(x_packed);
  for (int n = 0; n < s.batch; ++n) {
    int last = -1;  // highest input row decoded for this image
    for (int oy = 0; oy < s.out_h; ++oy) {
      const int iy0 = oy * s.stride_h - s.pad_top;
      for (int ky = 0; ky < s.kernel_h; ++ky) {
        const int iy = iy0 + ky;
        if (iy < 0 || iy >= s.in_h) {
          rows[ky] = zero_row;
          continue;
        }
        int8_t* slot = ring + static_cast<int64_t>(iy % s.kernel_h) * row_bytes;
        if (iy > last) {
          decode_row(x + (static_cast<int64_t>(n) * s.in_h + iy) * s.in_w * width,
                     slot);
          last = iy;
        }
        rows[ky] = slot;
      }
      row_fn(rows, wpad, spad, bpad,
             out + (static_cast<int64_t>(n) * s.out_h + oy) * s.out_w * s.out_c);
    }
  }
}

// Scalar path: int32 accumulators over contiguous lanes.
void DepthwiseTernaryScalar(const ConvShape& s, const DepthwiseLayout& l,
                            const int32_t* x_packed, const int8_t* w_hwo,
                            const float* scale, const float* bias,
                            Activation act, uint8_t* base, const int8_t** rows,
                            float* out) {
  int32_t* __restrict acc = reinterpret_cast<int32_t*>(base + l.acc);
  const int out_c = s.out_c;
  auto decode_row = [&](const uint32_t* x_row, int8_t* dst) {
    DecodeDepthwiseRow(s, l, x_row, dst, DecodeBlockScalar);
  };
  auto row_fn = [&](const int8_t** r, const int8_t* wpad, const float* sp,
                    const float* bp, float* o_row) {
    for (int ox = 0; ox < s.out_w; ++ox) {
      for (int o = 0; o < out_c; ++o) acc[o] = 0;
      for (int ky = 0; ky < s.kernel_h; ++ky) {
        for (int kx = 0; kx < s.kernel_w; ++kx) {
          const int8_t* __restrict xr =
              r[ky] + (static_cast<int64_t>(ox) * s.stride_w + kx) * l.cp;
          const int8_t* __restrict wt =
              wpad + static_cast<int64_t>(ky * s.kernel_w + kx) * l.cp;
          for (int o = 0; o < out_c; ++o) acc[o] += xr[o] * wt[o];
        }
      }
      float* dst = o_row + static_cast<int64_t>(ox) * out_c;
      for (int o = 0; o < out_c; ++o) {
        dst[o] = Epilogue(static_cast<float>(acc[o]), sp[o], bp[o], act);
      }
    }
  };
  DepthwiseTernaryDriver(s, l, x_packed, w_hwo, scale, bias, base, rows, out,
                         decode_row, row_fn);
}

}  // namespace

#if STTN_X86_DISPATCH
namespace {
namespace avx2 {

// 32 trits of one (mask, sign) block to 32 int8 lanes.
__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void DecodeBlock(
    uint32_t mask, uint32_t sign, int8_t* d) {
  // Byte j of the result looks at byte j / 8 of the word, bit j % 8.
  const __m256i spread = _mm256_setr_epi8(
      0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 3,
      3, 3, 3, 3, 3, 3, 3);
  const __m256i bits = _mm256_set1_epi64x(0x8040201008040201ll);
  const __m256i ones = _mm256_set1_epi8(1);
  const __m256i m = _mm256_cmpeq_epi8(
      _mm256_and_si256(
          _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(mask)), spread),
          bits),
      bits);
  const __m256i sg = _mm256_cmpeq_epi8(
      _mm256_and_si256(
          _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(sign)), spread),
          bits),
      bits);
  // (mask ? 1 : 0) * (sign ? -1 : +1)
  const __m256i t =
      _mm256_sign_epi8(_mm256_and_si256(m, ones), _mm256_or_si256(sg, ones));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(d), t);
}

// y = scale * acc + bias (then ReLU) for 8 lanes; `valid` of them stored.
__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void Epilogue8(
    __m256 acc, const float* sp, const float* bp, bool relu, int valid,
    float* dst) {
  __m256 y = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(sp), acc),
                           _mm256_loadu_ps(bp));
  if (relu) {
    y = _mm256_and_ps(y, _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_GT_OQ));
  }
  if (valid >= 8) {
    _mm256_storeu_ps(dst, y);
  } else if (valid > 0) {
    const __m256i mask = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    _mm256_maskstore_ps(dst, mask, y);
  }
}

// Epilogue of 32 int8 accumulators (channels c0 .. c0 + 31).
__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void Epilogue32(
    __m256i acc, const float* sp, const float* bp, bool relu, int valid,
    float* dst) {
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
__attribute__((target("avx2"))) void DepthwiseRow(
    const ConvShape& s, int cp, const int8_t** rows, const int8_t* wpad,
    const float* sp, const float* bp, bool relu, float* o_row) {
  const int kh = KH > 0 ? KH : s.kernel_h;
  const int kw = KW > 0 ? KW : s.kernel_w;
  const int64_t step = static_cast<int64_t>(s.stride_w) * cp;
  for (int c0 = 0; c0 < cp; c0 += 32) {
    const int valid = s.out_c - c0;
    if (KH > 0 && KW > 0) {
      __m256i wv[KH > 0 ? KH * KW : 1];
      for (int t = 0; t < KH * KW; ++t) {
        wv[t] = _mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(wpad + t * cp + c0));
      }
      for (int ox = 0; ox < s.out_w; ++ox) {
        __m256i acc = _mm256_setzero_si256();
        for (int ky = 0; ky < KH; ++ky) {
          const int8_t* xr = rows[ky] + ox * step + c0;
          for (int kx = 0; kx < KW; ++kx) {
            const __m256i xv = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(xr + kx * cp));
            acc = _mm256_add_epi8(acc, _mm256_sign_epi8(xv, wv[ky * KW + kx]));
          }
        }
        Epilogue32(acc, sp + c0, bp + c0, relu, valid,
                   o_row + static_cast<int64_t>(ox) * s.out_c + c0);
      }
    } else {
      for (int ox = 0; ox < s.out_w; ++ox) {
        __m256i acc = _mm256_setzero_si256();
        for (int ky = 0; ky < kh; ++ky) {
          const int8_t* xr = rows[ky] + ox * step + c0;
          const int8_t* wr = wpad + static_cast<int64_t>(ky) * kw * cp + c0;
          for (int kx = 0; kx < kw; ++kx) {
            const __m256i xv = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(xr + kx * cp));
            const __m256i w = _mm256_loadu_si256(
                reinterpret_cast<const __m256i*>(wr + kx * cp));
            acc = _mm256_add_epi8(acc, _mm256_sign_epi8(xv, w));
          }
        }
        Epilogue32(acc, sp + c0, bp + c0, relu, valid,
                   o_row + static_cast<int64_t>(ox) * s.out_c + c0);
      }
    }
  }
}

__attribute__((target("avx2"))) void DecodeRow(const ConvShape& s,
                                                const DepthwiseLayout& l,
                                                const uint32_t* x_row,
                                                int8_t* dst) {
  if (s.depth_multiplier != 1) {
    DecodeDepthwiseRow(s, l, x_row, dst, DecodeBlockScalar);
    return;
  }
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const int64_t cols = l.wp - s.pad_left < s.in_w ? l.wp - s.pad_left : s.in_w;
  for (int64_t ix = 0; ix < cols; ++ix) {
    const uint32_t* px = x_row + ix * width;
    int8_t* d = dst + (ix + s.pad_left) * l.cp;
    for (int b = 0; b < blocks; ++b) DecodeBlock(px[2 * b], px[2 * b + 1], d + 32 * b);
  }
}

struct Avx2DecodeRow {
  const ConvShape& s;
  const DepthwiseLayout& l;
  void operator()(const uint32_t* x_row, int8_t* dst) const {
    DecodeRow(s, l, x_row, dst);
  }
};

struct Avx2RowFn {
  const ConvShape& s;
  int cp;
  bool relu;
  void operator()(const int8_t** r, const int8_t* wpad, const float* sp,
                  const float* bp, float* o_row) const {
    if (s.kernel_h == 3 && s.kernel_w == 3) {
      DepthwiseRow<3, 3>(s, cp, r, wpad, sp, bp, relu, o_row);
    } else if (s.kernel_h == 5 && s.kernel_w == 5) {
      DepthwiseRow<5, 5>(s, cp, r, wpad, sp, bp, relu, o_row);
    } else {
      DepthwiseRow<0, 0>(s, cp, r, wpad, sp, bp, relu, o_row);
    }
  }
};

void DepthwiseTernary(const ConvShape& s, const DepthwiseLayout& l,
                      const int32_t* x_packed, const int8_t* w_hwo,
                      const float* scale, const float* bias, Activation act,
                      uint8_t* base, const int8_t** rows, float* out) {
  DepthwiseTernaryDriver(s, l, x_packed, w_hwo, scale, bias, base, rows, out,
                         Avx2DecodeRow{s, l},
                         Avx2RowFn{s, l.cp, act == Activation::kRelu});
}

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
            out + ((static_cast<int64_t>(n) * s.out_h + oy) * s.out_w + ox) *
                      c_count;
        // Input pixel (iy0 + ky, ix0 + kx) and tap (ky, kx) as offsets.
        const float* x0 =
            x + ((static_cast<int64_t>(n) * s.in_h + iy0) * s.in_w + ix0) *
                    c_count;
        const int64_t x_row = static_cast<int64_t>(s.in_w) * c_count;
        int c = 0;
        for (; c + 32 <= c_count; c += 32) {
          __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
          for (int ky = ky_begin; ky < ky_end; ++ky) {
            for (int kx = kx_begin; kx < kx_end; ++kx) {
              const float* xp = x0 + ky * x_row + kx * c_count + c;
              const float* wp =
                  w_float + static_cast<int64_t>(ky * s.kernel_w + kx) * c_count + c;
              a0 = _mm256_add_ps(a0, _mm256_mul_ps(_mm256_loadu_ps(xp),
                                                   _mm256_loadu_ps(wp)));
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
              const float* wp =
                  w_float + static_cast<int64_t>(ky * s.kernel_w + kx) * c_count + c;
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

size_t DepthwiseTernaryScratchBytes(const ConvShape& s) {
  return MakeDepthwiseLayout(s).total;
}

void DepthwiseConv2DTernaryOptimized(const ConvShape& s,
                                     const int32_t* x_packed,
                                     const int8_t* w_hwo, const float* scale,
                                     const float* bias, Activation act,
                                     Isa isa, void* scratch, float* out) {
  const DepthwiseLayout l = MakeDepthwiseLayout(s);
  uint8_t* base = reinterpret_cast<uint8_t*>(
      AlignUp64(reinterpret_cast<uintptr_t>(scratch)));
  const int8_t** rows = reinterpret_cast<const int8_t**>(base + l.row_ptrs);
#if STTN_X86_DISPATCH
  if (IsaAtLeastAvx2(isa) && s.kernel_h * s.kernel_w <= kDwMaxInt8Taps) {
    avx2::DepthwiseTernary(s, l, x_packed, w_hwo, scale, bias, act, base, rows,
                           out);
    return;
  }
#else
  (void)isa;
#endif
  DepthwiseTernaryScalar(s, l, x_packed, w_hwo, scale, bias, act, base, rows,
                         out);
}

void PrepareDepthwiseFloatWeights(const ConvShape& s, const int8_t* w_hwo,
                                  float* w_float) {
  const int64_t count =
      static_cast<int64_t>(s.kernel_h) * s.kernel_w * s.out_c;
  for (int64_t i = 0; i < count; ++i) w_float[i] = static_cast<float>(w_hwo[i]);
}

namespace {

// Portable float depthwise (and any depth multiplier).
void DepthwiseFloatScalar(const ConvShape& s, const float* x,
                                   const float* w_float, const float* scale,
                                   const float* bias, Activation act,
                                   float* out) {
  const int out_c = s.out_c;
  const int m_count = s.depth_multiplier;
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
            const float* __restrict xr =
                x + ((static_cast<int64_t>(n) * s.in_h + iy) * s.in_w + ix) *
                        s.in_c;
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
          }
        }
        for (int o = 0; o < out_c; ++o) {
          o_row[o] = Epilogue(o_row[o], scale[o], bias[o], act);
        }
      }
    }
  }
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
