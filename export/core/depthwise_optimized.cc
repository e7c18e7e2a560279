// Ternary-input depthwise conv2d, optimized.
//
// There is no reduction over channels, so the popcount trick does not apply.
// Each input row an output row needs is decoded once into int8 lanes (one
// trit per byte, in output-channel order, so a depth multiplier M > 1 is
// expanded here: lane c * M + m holds input channel c) in a ring of
// kernel_h + 1 row slots per thread. Slot columns are the padded input
// columns (pad zeros around the decoded ones, zeroed once in Prepare), so
// border taps read zeros instead of being skipped; rows above/below the
// image point at the ring's zero slot. Every output is then a sum over taps
// of int8 products along contiguous lanes: on AVX2 `vpsignb` (w * x for w,
// x in {-1, 0, 1}) accumulated in int8 over 32 channels (|acc| <=
// kh * kw <= 127 is exact), else an int32 loop.
//
// Outputs: floats through the affine epilogue, or, for a packed output,
// bits straight from the accumulators: the integer thresholds of
// ternary_gemm.h (IntegerOutputThresholds), compared in int8 on AVX2
// (vpcmpgtb + vpmovmskb give a 32-channel mask word at once).
//
// Threads: work items are bands of output rows of one image; each thread
// decodes the input rows of its band into its own ring.
#include <climits>
#include <cstdint>
#include <cstring>

#include "export/core/avx2_epilogue.h"
#include "export/core/cpu_target.h"
#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/ternary_gemm.h"
#include "export/core/threadpool.h"

namespace sttn {
namespace core {
namespace {

constexpr int kDwMaxInt8Taps = 127;  // int8 accumulators cannot overflow
constexpr int kDwThreadSlots = 8;    // per-thread rings held by a layer

size_t AlignUp64(size_t v) { return (v + 63) & ~static_cast<size_t>(63); }

uint8_t* Aligned(void* p) {
  return reinterpret_cast<uint8_t*>(AlignUp64(reinterpret_cast<uintptr_t>(p)));
}
const uint8_t* Aligned(const void* p) {
  return reinterpret_cast<const uint8_t*>(
      AlignUp64(reinterpret_cast<uintptr_t>(p)));
}

// The prepared constants (offsets from a 64-byte aligned base).
struct PreparedLayout {
  int cp = 0;            // lanes: out_c rounded up to 32
  size_t weights = 0;    // int8 [kh * kw][cp], zero past out_c
  size_t scale = 0;      // float [cp]
  size_t bias = 0;       // float [cp]
  size_t upper = 0;      // int32 [cp] (packed output)
  size_t lower = 0;      // int32 [cp]
  size_t flip = 0;       // int32 [cp]
  size_t upper8 = 0;     // int8 [cp]: acc >= upper  <=>  acc > upper8
  size_t lower8 = 0;     // int8 [cp]: acc <= lower  <=>  !(acc > lower8)
  size_t flip_bits = 0;  // uint32 [cp / 32]
  size_t packed_ok = 0;  // int32: integer thresholds usable
  size_t total = 0;
};

PreparedLayout MakePreparedLayout(const ConvShape& s) {
  PreparedLayout l;
  l.cp = (s.out_c + 31) / 32 * 32;
  const size_t cp = static_cast<size_t>(l.cp);
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t here = at;
    at = AlignUp64(at + bytes);
    return here;
  };
  l.weights = take(static_cast<size_t>(s.kernel_h) * s.kernel_w * cp);
  l.scale = take(cp * sizeof(float));
  l.bias = take(cp * sizeof(float));
  l.upper = take(cp * sizeof(int32_t));
  l.lower = take(cp * sizeof(int32_t));
  l.flip = take(cp * sizeof(int32_t));
  l.upper8 = take(cp);
  l.lower8 = take(cp);
  l.flip_bits = take(cp / 32 * sizeof(uint32_t));
  l.packed_ok = take(sizeof(int32_t));
  l.total = at + 64;
  return l;
}

// Per-thread scratch: a ring of kh + 1 decoded rows (the last one stays
// zero), an int32 accumulator row and the kh row pointers.
struct ThreadLayout {
  int64_t wp = 0;         // pixels per decoded row (padded input columns)
  size_t ring = 0;        // int8 [kh + 1][wp][cp]
  size_t acc = 0;         // int32 [cp]
  size_t row_ptrs = 0;    // const int8_t* [kh]
  size_t slot_bytes = 0;  // one thread's share
};

ThreadLayout MakeThreadLayout(const ConvShape& s, int cp) {
  ThreadLayout t;
  t.wp = static_cast<int64_t>(s.out_w - 1) * s.stride_w + s.kernel_w;
  size_t at = 0;
  t.ring = at;
  at = AlignUp64(at + (static_cast<size_t>(s.kernel_h) + 1) *
                          static_cast<size_t>(t.wp) * static_cast<size_t>(cp));
  t.acc = at;
  at = AlignUp64(at + static_cast<size_t>(cp) * sizeof(int32_t));
  t.row_ptrs = at;
  at = AlignUp64(at + static_cast<size_t>(s.kernel_h) * sizeof(const int8_t*));
  t.slot_bytes = at;
  return t;
}

// Decodes the input columns of one row into a ring slot (`dst`, whose pad
// columns and lanes past out_c stay zero).
STTN_ALWAYS_INLINE void DecodeBlockScalar(uint32_t mask, uint32_t sign,
                                          int8_t* d) {
  for (int j = 0; j < 32; ++j) {
    const int nz = (mask >> j) & 1;
    const int neg = (sign >> j) & 1;
    d[j] = static_cast<int8_t>(nz * (1 - 2 * neg));
  }
}

template <typename DecodeBlock>
STTN_ALWAYS_INLINE void DecodeRow(const ConvShape& s, int cp, int64_t wp,
                                  const uint32_t* x_row, int8_t* dst,
                                  DecodeBlock decode) {
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const int64_t cols = wp - s.pad_left < s.in_w ? wp - s.pad_left : s.in_w;
  const int m_count = s.depth_multiplier;
  for (int64_t ix = 0; ix < cols; ++ix) {
    const uint32_t* px = x_row + ix * width;
    int8_t* d = dst + (ix + s.pad_left) * cp;
    if (m_count == 1) {
      for (int b = 0; b < blocks; ++b)
        decode(px[2 * b], px[2 * b + 1], d + 32 * b);
    } else {
      for (int c = 0; c < s.in_c; ++c) {
        const int8_t t = static_cast<int8_t>(
            TritAt(reinterpret_cast<const int32_t*>(px), c));
        for (int m = 0; m < m_count; ++m) d[c * m_count + m] = t;
      }
    }
  }
}

struct Job {
  const ConvShape* s;
  PreparedLayout pl;
  ThreadLayout tl;
  const uint8_t* prepared;
  uint8_t* scratch;  // aligned
  const uint32_t* x;
  Activation act;
  float* out;       // float output, or
  int32_t* packed;  // packed output
  int bands;        // per image
  int band_rows;
  bool avx2;
};

// Runs row_fn(rows, oy) for the output rows of one band, decoding input
// rows into the worker's ring as they are first needed.
template <typename Decode, typename RowFn>
STTN_ALWAYS_INLINE void RunBand(const Job& j, int64_t item, int worker,
                                Decode decode, RowFn row_fn) {
  const ConvShape& s = *j.s;
  const int n = static_cast<int>(item / j.bands);
  const int band = static_cast<int>(item % j.bands);
  const int oy0 = band * j.band_rows;
  const int oy1 = oy0 + j.band_rows < s.out_h ? oy0 + j.band_rows : s.out_h;
  uint8_t* slot = j.scratch + j.tl.slot_bytes * worker;
  int8_t* ring = reinterpret_cast<int8_t*>(slot + j.tl.ring);
  const int8_t** rows = reinterpret_cast<const int8_t**>(slot + j.tl.row_ptrs);
  const int64_t row_bytes = j.tl.wp * j.pl.cp;
  const int8_t* zero_row = ring + static_cast<int64_t>(s.kernel_h) * row_bytes;
  const int width = PackedWidth(s.in_c);
  int last = INT_MIN;  // highest input row decoded in this band
  for (int oy = oy0; oy < oy1; ++oy) {
    const int iy0 = oy * s.stride_h - s.pad_top;
    for (int ky = 0; ky < s.kernel_h; ++ky) {
      const int iy = iy0 + ky;
      if (iy < 0 || iy >= s.in_h) {
        rows[ky] = zero_row;
        continue;
      }
      int8_t* dst = ring + static_cast<int64_t>(iy % s.kernel_h) * row_bytes;
      if (iy > last) {
        decode(j.x + (static_cast<int64_t>(n) * s.in_h + iy) * s.in_w * width,
               dst);
        last = iy;
      }
      rows[ky] = dst;
    }
    row_fn(rows, slot, n, oy);
  }
}

// Scalar path: int32 accumulators over contiguous lanes.
void ScalarItem(void* ctx, int64_t item, int worker) {
  const Job& j = *static_cast<const Job*>(ctx);
  const ConvShape& s = *j.s;
  const int cp = j.pl.cp;
  const int out_c = s.out_c;
  const int8_t* w = reinterpret_cast<const int8_t*>(j.prepared + j.pl.weights);
  const float* sp = reinterpret_cast<const float*>(j.prepared + j.pl.scale);
  const float* bp = reinterpret_cast<const float*>(j.prepared + j.pl.bias);
  const int32_t* up = reinterpret_cast<const int32_t*>(j.prepared + j.pl.upper);
  const int32_t* lw = reinterpret_cast<const int32_t*>(j.prepared + j.pl.lower);
  const int32_t* fl = reinterpret_cast<const int32_t*>(j.prepared + j.pl.flip);
  const int width_out = PackedWidth(out_c);
  auto decode = [&](const uint32_t* x_row, int8_t* dst) {
    DecodeRow(s, cp, j.tl.wp, x_row, dst, DecodeBlockScalar);
  };
  auto row_fn = [&](const int8_t** r, uint8_t* slot, int n, int oy) {
    int32_t* __restrict acc = reinterpret_cast<int32_t*>(slot + j.tl.acc);
    const int64_t pixel0 = (static_cast<int64_t>(n) * s.out_h + oy) * s.out_w;
    for (int ox = 0; ox < s.out_w; ++ox) {
      for (int o = 0; o < out_c; ++o) acc[o] = 0;
      for (int ky = 0; ky < s.kernel_h; ++ky) {
        for (int kx = 0; kx < s.kernel_w; ++kx) {
          const int8_t* __restrict xr =
              r[ky] + (static_cast<int64_t>(ox) * s.stride_w + kx) * cp;
          const int8_t* __restrict wt =
              w + static_cast<int64_t>(ky * s.kernel_w + kx) * cp;
          for (int o = 0; o < out_c; ++o) acc[o] += xr[o] * wt[o];
        }
      }
      if (j.packed != nullptr) {
        uint32_t* dst =
            reinterpret_cast<uint32_t*>(j.packed + (pixel0 + ox) * width_out);
        for (int b = 0; b < width_out / 2; ++b) {
          uint32_t mask = 0, sign = 0;
          for (int i = 0; i < 32 && 32 * b + i < out_c; ++i) {
            const int o = 32 * b + i;
            const bool ge = acc[o] >= up[o];
            const bool le = acc[o] <= lw[o];
            const bool nz = ge != le;
            mask |= static_cast<uint32_t>(nz) << i;
            sign |= static_cast<uint32_t>(nz && (le != (fl[o] != 0))) << i;
          }
          dst[2 * b] = mask;
          dst[2 * b + 1] = sign;
        }
      } else {
        float* dst = j.out + (pixel0 + ox) * out_c;
        for (int o = 0; o < out_c; ++o) {
          dst[o] = Epilogue(static_cast<float>(acc[o]), sp[o], bp[o], j.act);
        }
      }
    }
  };
  RunBand(j, item, worker, decode, row_fn);
}

#if STTN_X86_DISPATCH
namespace avx2 {

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
  const int8_t* wpad =
      reinterpret_cast<const int8_t*>(j.prepared + j.pl.weights);
  const float* sp = reinterpret_cast<const float*>(j.prepared + j.pl.scale);
  const float* bp = reinterpret_cast<const float*>(j.prepared + j.pl.bias);
  const int8_t* up8 = reinterpret_cast<const int8_t*>(j.prepared + j.pl.upper8);
  const int8_t* lo8 = reinterpret_cast<const int8_t*>(j.prepared + j.pl.lower8);
  const uint32_t* flips =
      reinterpret_cast<const uint32_t*>(j.prepared + j.pl.flip_bits);
  const bool relu = j.act == Activation::kRelu;
  const int64_t step = static_cast<int64_t>(s.stride_w) * cp;
  const int64_t pixel0 = (static_cast<int64_t>(n) * s.out_h + oy) * s.out_w;
  const int width_out = PackedWidth(s.out_c);
  for (int c0 = 0; c0 < cp; c0 += 32) {
    const int valid = s.out_c - c0;
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
    for (int ox = 0; ox < s.out_w; ++ox) {
      __m256i acc = _mm256_setzero_si256();
      for (int ky = 0; ky < kh; ++ky) {
        const int8_t* xr = rows[ky] + ox * step + c0;
        for (int kx = 0; kx < kw; ++kx) {
          const __m256i xv = _mm256_loadu_si256(
              reinterpret_cast<const __m256i*>(xr + kx * cp));
          const __m256i w =
              KH > 0
                  ? wv[ky * KW + kx]
                  : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(
                        wpad + static_cast<int64_t>(ky * kw + kx) * cp + c0));
          acc = _mm256_add_epi8(acc, _mm256_sign_epi8(xv, w));
        }
      }
      if (j.packed != nullptr) {
        const uint32_t ge = static_cast<uint32_t>(
            _mm256_movemask_epi8(_mm256_cmpgt_epi8(acc, u8)));
        const uint32_t le = ~static_cast<uint32_t>(
            _mm256_movemask_epi8(_mm256_cmpgt_epi8(acc, l8)));
        const uint32_t mask = (ge ^ le) & valid_bits;
        uint32_t* dst = reinterpret_cast<uint32_t*>(
            j.packed + (pixel0 + ox) * width_out + 2 * (c0 / 32));
        dst[0] = mask;
        dst[1] = mask & (le ^ flip);
      } else {
        Epilogue32(acc, sp + c0, bp + c0, relu, valid,
                   j.out + (pixel0 + ox) * s.out_c + c0);
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

void Item(void* ctx, int64_t item, int worker) {
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

}  // namespace avx2
#endif  // STTN_X86_DISPATCH

}  // namespace

size_t DepthwiseTernaryPreparedBytes(const ConvShape& s) {
  return MakePreparedLayout(s).total;
}

bool PrepareDepthwiseTernary(const ConvShape& s, const int8_t* w_hwo,
                             const float* scale, const float* bias,
                             Activation act, const float* out_thresholds,
                             void* prepared) {
  const PreparedLayout l = MakePreparedLayout(s);
  uint8_t* base = Aligned(prepared);
  std::memset(base, 0, l.total - 64);
  const int taps = s.kernel_h * s.kernel_w;
  int8_t* w = reinterpret_cast<int8_t*>(base + l.weights);
  for (int t = 0; t < taps; ++t) {
    std::memcpy(w + static_cast<int64_t>(t) * l.cp,
                w_hwo + static_cast<int64_t>(t) * s.out_c, s.out_c);
  }
  float* sp = reinterpret_cast<float*>(base + l.scale);
  float* bp = reinterpret_cast<float*>(base + l.bias);
  int32_t* up = reinterpret_cast<int32_t*>(base + l.upper);
  int32_t* lw = reinterpret_cast<int32_t*>(base + l.lower);
  int32_t* fl = reinterpret_cast<int32_t*>(base + l.flip);
  for (int o = 0; o < l.cp; ++o) {
    sp[o] = o < s.out_c ? scale[o] : 0.0f;
    bp[o] = o < s.out_c ? bias[o] : 0.0f;
    up[o] = INT32_MAX;
    lw[o] = INT32_MIN;
    fl[o] = 0;
  }
  bool ok = false;
  if (out_thresholds != nullptr) {
    ok = IntegerOutputThresholds(s.out_c, taps, scale, bias, act,
                                 out_thresholds, up, lw, fl);
    int8_t* u8 = reinterpret_cast<int8_t*>(base + l.upper8);
    int8_t* l8 = reinterpret_cast<int8_t*>(base + l.lower8);
    uint32_t* fb = reinterpret_cast<uint32_t*>(base + l.flip_bits);
    auto clamp8 = [](int64_t v) {
      return static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));
    };
    for (int o = 0; o < l.cp; ++o) {
      // acc in [-127, 127]: acc >= U <=> acc > U - 1; acc <= L <=> !(acc > L).
      u8[o] = clamp8(static_cast<int64_t>(up[o]) - 1);
      l8[o] = clamp8(lw[o]);
      if (fl[o] != 0) fb[o / 32] |= 1u << (o % 32);
    }
  }
  *reinterpret_cast<int32_t*>(base + l.packed_ok) = ok ? 1 : 0;
  return ok;
}

size_t DepthwiseTernaryScratchBytes(const ConvShape& s) {
  const PreparedLayout pl = MakePreparedLayout(s);
  return MakeThreadLayout(s, pl.cp).slot_bytes * kDwThreadSlots + 64;
}

void PrepareDepthwiseTernaryScratch(const ConvShape& s, void* scratch) {
  std::memset(scratch, 0, DepthwiseTernaryScratchBytes(s));
}

void DepthwiseConv2DTernaryOptimized(const ConvShape& s,
                                     const int32_t* x_packed,
                                     const void* prepared, Activation act,
                                     Isa isa, int threads, void* scratch,
                                     float* out, int32_t* packed_out) {
  Job j;
  j.s = &s;
  j.pl = MakePreparedLayout(s);
  j.tl = MakeThreadLayout(s, j.pl.cp);
  j.prepared = Aligned(prepared);
  j.scratch = Aligned(scratch);
  j.x = reinterpret_cast<const uint32_t*>(x_packed);
  j.act = act;
  j.out = out;
  j.packed = packed_out;
  if (threads > kDwThreadSlots) threads = kDwThreadSlots;
  if (threads < 1) threads = 1;
  // Bands of rows: one per image on one thread; else enough for every
  // thread (decoding kh - stride rows twice at each band edge).
  // Small layers run on one thread (see the GEMM's threshold): a unit is
  // 32 channels of one output pixel and tap.
  const int64_t work = static_cast<int64_t>(s.batch) * s.out_h * s.out_w *
                       (j.pl.cp / 32) * s.kernel_h * s.kernel_w;
  if (work < (int64_t{1} << 12)) threads = 1;
  j.bands = 1;
  if (threads > 1) {
    const int wanted = (2 * threads + s.batch - 1) / s.batch;
    j.bands = wanted < s.out_h ? wanted : s.out_h;
  }
  j.band_rows = (s.out_h + j.bands - 1) / j.bands;
  j.bands = (s.out_h + j.band_rows - 1) / j.band_rows;
  const int64_t items = static_cast<int64_t>(s.batch) * j.bands;
  ParallelFn fn = ScalarItem;
#if STTN_X86_DISPATCH
  if (IsaAtLeastAvx2(isa) && s.kernel_h * s.kernel_w <= kDwMaxInt8Taps) {
    fn = avx2::Item;
  }
#else
  (void)isa;
#endif
  ParallelFor(threads, items, fn, &j);
}

}  // namespace core
}  // namespace sttn
