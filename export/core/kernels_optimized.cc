// Optimized kernels: bit-packed popcount for ternary input, channel-contiguous
// float x trit loops for float input. Portable C++ plus x86 paths chosen at
// run time: the scalar ternary kernels are compiled twice, once for the
// baseline ISA (portable SWAR popcount) and once with target("popcnt"); AVX2
// builds (conv/FC block popcount, depthwise int8 vpsignb lanes, float
// depthwise, ternarize) are used when the CPU has AVX2 and
// STTN_DISABLE_AVX2 is not set. NEON paths would be added the same way.
#include <cstdlib>
#include <cstring>

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
namespace {

// Popcount for the baseline ISA. On aarch64 the builtin is a NEON cnt; on a
// baseline x86-64 build it would be a libgcc call, so use SWAR there.
struct PortablePopcount {
  static STTN_ALWAYS_INLINE int Count(uint32_t v) {
#if STTN_X86_DISPATCH
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0f0f0f0fu;
    return static_cast<int>((v * 0x01010101u) >> 24);
#else
    return __builtin_popcount(v);
#endif
  }
};

// Uses the compiler builtin; only instantiated inside functions compiled for
// a target that has a popcount instruction.
struct BuiltinPopcount {
  static STTN_ALWAYS_INLINE int Count(uint32_t v) {
    return __builtin_popcount(v);
  }
};

// sum_b popcount(m_a & m_b) - 2 * popcount(m_a & m_b & (s_a ^ s_b)).
template <typename Pop>
STTN_ALWAYS_INLINE int32_t PackedDot(const uint32_t* a, const uint32_t* b,
                                     int blocks) {
  int32_t acc = 0;
  for (int i = 0; i < blocks; ++i) {
    const uint32_t m = a[2 * i] & b[2 * i];
    const uint32_t neg = m & (a[2 * i + 1] ^ b[2 * i + 1]);
    acc += Pop::Count(m) - 2 * Pop::Count(neg);
  }
  return acc;
}

template <typename Pop>
STTN_ALWAYS_INLINE void Conv2DTernaryImpl(const ConvShape& s,
                                          const int32_t* x_packed,
                                          const int32_t* w_packed,
                                          const float* scale, const float* bias,
                                          Activation act, float* out) {
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const uint32_t* x = reinterpret_cast<const uint32_t*>(x_packed);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(w_packed);
  const int64_t w_per_out =
      static_cast<int64_t>(s.kernel_h) * s.kernel_w * width;
  for (int n = 0; n < s.batch; ++n) {
    for (int oy = 0; oy < s.out_h; ++oy) {
      const int iy0 = oy * s.stride_h - s.pad_top;
      const int ky_begin = iy0 < 0 ? -iy0 : 0;
      const int ky_end =
          iy0 + s.kernel_h > s.in_h ? s.in_h - iy0 : s.kernel_h;
      for (int ox = 0; ox < s.out_w; ++ox) {
        const int ix0 = ox * s.stride_w - s.pad_left;
        const int kx_begin = ix0 < 0 ? -ix0 : 0;
        const int kx_end =
            ix0 + s.kernel_w > s.in_w ? s.in_w - ix0 : s.kernel_w;
        float* o_row =
            out + ((static_cast<int64_t>(n) * s.out_h + oy) * s.out_w + ox) *
                      s.out_c;
        // Valid taps of one kernel row are contiguous in both the input row
        // and the weights, so each kernel row is one packed dot product.
        const int row_blocks = (kx_end - kx_begin) * blocks;
        for (int o = 0; o < s.out_c; ++o) {
          const uint32_t* wo = w + o * w_per_out;
          int32_t acc = 0;
          for (int ky = ky_begin; ky < ky_end; ++ky) {
            const uint32_t* xr =
                x + ((static_cast<int64_t>(n) * s.in_h + iy0 + ky) * s.in_w +
                     ix0 + kx_begin) *
                        width;
            const uint32_t* wr =
                wo + (static_cast<int64_t>(ky) * s.kernel_w + kx_begin) * width;
            acc += PackedDot<Pop>(xr, wr, row_blocks);
          }
          o_row[o] = Epilogue(static_cast<float>(acc), scale[o], bias[o], act);
        }
      }
    }
  }
}

template <typename Pop>
STTN_ALWAYS_INLINE void FullyConnectedTernaryImpl(
    const FullyConnectedShape& s, const int32_t* x_packed,
    const int32_t* w_packed, const float* scale, const float* bias,
    Activation act, float* out) {
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const uint32_t* x = reinterpret_cast<const uint32_t*>(x_packed);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(w_packed);
  for (int r = 0; r < s.rows; ++r) {
    const uint32_t* xr = x + static_cast<int64_t>(r) * width;
    float* o_row = out + static_cast<int64_t>(r) * s.out_c;
    for (int o = 0; o < s.out_c; ++o) {
      const int32_t acc =
          PackedDot<Pop>(xr, w + static_cast<int64_t>(o) * width, blocks);
      o_row[o] = Epilogue(static_cast<float>(acc), scale[o], bias[o], act);
    }
  }
}

void Conv2DTernaryPortable(const ConvShape& s, const int32_t* x,
                           const int32_t* w, const float* scale,
                           const float* bias, Activation act, float* out) {
  Conv2DTernaryImpl<PortablePopcount>(s, x, w, scale, bias, act, out);
}
void FullyConnectedTernaryPortable(const FullyConnectedShape& s,
                                   const int32_t* x, const int32_t* w,
                                   const float* scale, const float* bias,
                                   Activation act, float* out) {
  FullyConnectedTernaryImpl<PortablePopcount>(s, x, w, scale, bias, act, out);
}

#if STTN_X86_DISPATCH
__attribute__((target("popcnt"))) void Conv2DTernaryPopcnt(
    const ConvShape& s, const int32_t* x, const int32_t* w, const float* scale,
    const float* bias, Activation act, float* out) {
  Conv2DTernaryImpl<BuiltinPopcount>(s, x, w, scale, bias, act, out);
}
__attribute__((target("popcnt"))) void FullyConnectedTernaryPopcnt(
    const FullyConnectedShape& s, const int32_t* x, const int32_t* w,
    const float* scale, const float* bias, Activation act, float* out) {
  FullyConnectedTernaryImpl<BuiltinPopcount>(s, x, w, scale, bias, act, out);
}

bool CpuHasPopcnt() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("popcnt") != 0;
  }();
  return has;
}
#endif

#if STTN_X86_DISPATCH
// ---------------------------------------------------------------------------
// AVX2 block kernels (chosen at run time when the CPU has AVX2).
//
// A 256-bit vector holds 4 blocks, i.e. 4 (mask, sign) word pairs: in each
// 64-bit lane the low dword is a mask word and the high dword its sign word.
// For x and w:  a = x & w (low dword: m = m_x & m_w), d = x ^ w (high dword:
// s_x ^ s_w), neg = (a << 32) & d (high dword: m & (s_x ^ s_w), low dword 0),
// v = blend(a, neg) = [m, neg]. Per-byte popcounts of v come from a vpshufb
// nibble lookup and are summed in uint8 for up to kFlushSteps steps; a flush
// weighs the bytes of the low dwords +1 and of the high dwords -2
// (vpmaddubsw) and widens to int32 (vpmaddwd), giving
// popcount(m) - 2 popcount(neg) per lane. Kernels compute kOuts output
// channels per pass over the input, so each loaded input vector is reused
// kOuts times. The tail (< 4 blocks) is read with vpmaskmovd, which neither
// reads nor faults past the end.
namespace avx2 {

constexpr int kFlushSteps = 31;  // 31 * 8 <= 255: uint8 lanes cannot wrap
constexpr int kOuts = 4;
// Largest packed window (kh * kw * PackedWidth(in_c) words) the conv kernel
// gathers on the stack; larger windows use the popcnt path.
constexpr int kMaxWindowWords = 4096;

__attribute__((target("avx2"))) STTN_ALWAYS_INLINE __m256i
PopcountBytes(__m256i v, __m256i lut, __m256i low4) {
  const __m256i lo = _mm256_and_si256(v, low4);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low4);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo),
                         _mm256_shuffle_epi8(lut, hi));
}

__attribute__((target("avx2"))) STTN_ALWAYS_INLINE __m256i
TritProductCounts(__m256i x, __m256i w, __m256i lut, __m256i low4) {
  const __m256i a = _mm256_and_si256(x, w);
  const __m256i d = _mm256_xor_si256(x, w);
  const __m256i neg = _mm256_and_si256(_mm256_slli_epi64(a, 32), d);
  return PopcountBytes(_mm256_blend_epi32(a, neg, 0xAA), lut, low4);
}

// acc32 += (bytes of acc8 weighted by `weights`, summed per dword); acc8 = 0.
template <int n>
__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void Flush(
    __m256i* acc32, __m256i* acc8, __m256i weights, __m256i ones16) {
  for (int j = 0; j < n; ++j) {
    acc32[j] = _mm256_add_epi32(
        acc32[j],
        _mm256_madd_epi16(_mm256_maddubs_epi16(acc8[j], weights), ones16));
    acc8[j] = _mm256_setzero_si256();
  }
}

// Dot products of one packed row `x` (`words` words, even) with `n` packed
// rows w, w + w_stride, ...; results to acc[0..n). n is kOuts or 1.
template <int n>
__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void DotRows(
    const uint32_t* x, const uint32_t* w, int64_t w_stride, int words,
    int32_t* acc) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2,
                                       3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2,
                                       2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  // +1 for the bytes of mask-product dwords, -2 for the bytes of neg dwords.
  const __m256i weights = _mm256_set1_epi64x(0xfefefefe01010101ll);
  const __m256i ones16 = _mm256_set1_epi16(1);
  __m256i acc32[n];
  __m256i acc8[n];
  for (int j = 0; j < n; ++j) {
    acc32[j] = _mm256_setzero_si256();
    acc8[j] = _mm256_setzero_si256();
  }
  const int full = words / 8;
  const int tail = words % 8;
  int step = 0;
  int pending = 0;
  for (; step < full; ++step) {
    const __m256i xv =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x + 8 * step));
    for (int j = 0; j < n; ++j) {
      const __m256i wv = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(w + j * w_stride + 8 * step));
      acc8[j] = _mm256_add_epi8(acc8[j], TritProductCounts(xv, wv, lut, low4));
    }
    if (++pending == kFlushSteps) {
      Flush<n>(acc32, acc8, weights, ones16);
      pending = 0;
    }
  }
  if (tail) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(tail), lane);
    const __m256i xv = _mm256_maskload_epi32(
        reinterpret_cast<const int*>(x + 8 * step), mask);
    for (int j = 0; j < n; ++j) {
      const __m256i wv = _mm256_maskload_epi32(
          reinterpret_cast<const int*>(w + j * w_stride + 8 * step), mask);
      acc8[j] = _mm256_add_epi8(acc8[j], TritProductCounts(xv, wv, lut, low4));
    }
    ++pending;
  }
  if (pending) Flush<n>(acc32, acc8, weights, ones16);
  for (int j = 0; j < n; ++j) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc32[j]),
                              _mm256_extracti128_si256(acc32[j], 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    acc[j] = _mm_cvtsi128_si32(s);
  }
}

// All out_c dot products of one packed row against rows of `w`.
__attribute__((target("avx2"))) STTN_ALWAYS_INLINE void DotAllOutputs(
    const uint32_t* x, const uint32_t* w, int64_t w_stride, int words,
    int out_c, const float* scale, const float* bias, Activation act,
    float* out) {
  int32_t acc[kOuts];
  int o = 0;
  for (; o + kOuts <= out_c; o += kOuts) {
    DotRows<kOuts>(x, w + o * w_stride, w_stride, words, acc);
    for (int j = 0; j < kOuts; ++j) {
      out[o + j] = Epilogue(static_cast<float>(acc[j]), scale[o + j],
                            bias[o + j], act);
    }
  }
  for (; o < out_c; ++o) {
    DotRows<1>(x, w + o * w_stride, w_stride, words, acc);
    out[o] = Epilogue(static_cast<float>(acc[0]), scale[o], bias[o], act);
  }
}

bool ConvWindowFits(const ConvShape& s) {
  return static_cast<int64_t>(s.kernel_h) * s.kernel_w * PackedWidth(s.in_c) <=
         kMaxWindowWords;
}

// Gathers each output pixel's packed input window ([kh][kw][width], zeros
// for padding taps) into one contiguous row, the same layout as one output
// channel's packed weights, so every output is a single dot product.
__attribute__((target("avx2"))) void Conv2DTernary(
    const ConvShape& s, const int32_t* x_packed, const int32_t* w_packed,
    const float* scale, const float* bias, Activation act, float* out) {
  const int width = PackedWidth(s.in_c);
  const int words = s.kernel_h * s.kernel_w * width;
  const uint32_t* x = reinterpret_cast<const uint32_t*>(x_packed);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(w_packed);
  alignas(32) uint32_t window[kMaxWindowWords];
  const bool pointwise = s.kernel_h == 1 && s.kernel_w == 1;
  for (int n = 0; n < s.batch; ++n) {
    for (int oy = 0; oy < s.out_h; ++oy) {
      const int iy0 = oy * s.stride_h - s.pad_top;
      for (int ox = 0; ox < s.out_w; ++ox) {
        const int ix0 = ox * s.stride_w - s.pad_left;
        float* o_row =
            out + ((static_cast<int64_t>(n) * s.out_h + oy) * s.out_w + ox) *
                      s.out_c;
        const uint32_t* row;
        if (pointwise && iy0 >= 0 && iy0 < s.in_h && ix0 >= 0 &&
            ix0 < s.in_w) {
          row = x + ((static_cast<int64_t>(n) * s.in_h + iy0) * s.in_w + ix0) *
                        width;
        } else {
          for (int ky = 0; ky < s.kernel_h; ++ky) {
            const int iy = iy0 + ky;
            uint32_t* dst = window + ky * s.kernel_w * width;
            if (iy < 0 || iy >= s.in_h) {
              std::memset(dst, 0, sizeof(uint32_t) * s.kernel_w * width);
              continue;
            }
            const int kx_begin = ix0 < 0 ? -ix0 : 0;
            const int kx_end =
                ix0 + s.kernel_w > s.in_w ? s.in_w - ix0 : s.kernel_w;
            if (kx_begin > 0) {
              std::memset(dst, 0, sizeof(uint32_t) * kx_begin * width);
            }
            if (kx_end > kx_begin) {
              std::memcpy(
                  dst + kx_begin * width,
                  x + ((static_cast<int64_t>(n) * s.in_h + iy) * s.in_w + ix0 +
                       kx_begin) *
                          width,
                  sizeof(uint32_t) * (kx_end - kx_begin) * width);
            }
            const int done = kx_end > kx_begin ? kx_end : kx_begin;
            if (done < s.kernel_w) {
              std::memset(dst + done * width, 0,
                          sizeof(uint32_t) * (s.kernel_w - done) * width);
            }
          }
          row = window;
        }
        DotAllOutputs(row, w, words, words, s.out_c, scale, bias, act, o_row);
      }
    }
  }
}

__attribute__((target("avx2"))) void FullyConnectedTernary(
    const FullyConnectedShape& s, const int32_t* x_packed,
    const int32_t* w_packed, const float* scale, const float* bias,
    Activation act, float* out) {
  const int width = PackedWidth(s.in_c);
  const uint32_t* x = reinterpret_cast<const uint32_t*>(x_packed);
  const uint32_t* w = reinterpret_cast<const uint32_t*>(w_packed);
  for (int r = 0; r < s.rows; ++r) {
    DotAllOutputs(x + static_cast<int64_t>(r) * width, w, width, width,
                  s.out_c, scale, bias, act,
                  out + static_cast<int64_t>(r) * s.out_c);
  }
}

}  // namespace avx2

// STTN_DISABLE_AVX2=1 in the environment (read once) forces the popcnt path,
// so both paths can be tested and benchmarked on an AVX2 machine.
bool UseAvx2() {
  static const bool use = [] {
    __builtin_cpu_init();
    const char* off = std::getenv("STTN_DISABLE_AVX2");
    return __builtin_cpu_supports("avx2") != 0 &&
           !(off != nullptr && off[0] != '\0' && off[0] != '0');
  }();
  return use;
}
#endif  // STTN_X86_DISPATCH

}  // namespace

const char* OptimizedPopcountPath() {
#if STTN_X86_DISPATCH
  if (UseAvx2()) return "avx2";
  return CpuHasPopcnt() ? "popcnt" : "portable";
#else
  return "portable";
#endif
}

// ---------------------------------------------------------------------------
namespace {

void TernarizeScalar(const float* x, int64_t rows, int channels,
                     const float* thresholds, int32_t* out) {
  const float* lo = thresholds;
  const float* hi = thresholds + channels;
  const float* sgn = thresholds + 2 * static_cast<int64_t>(channels);
  const int blocks = NumBlocks(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    uint32_t* o = reinterpret_cast<uint32_t*>(out + r * 2 * blocks);
    for (int b = 0; b < blocks; ++b) {
      const int begin = 32 * b;
      const int count = channels - begin < 32 ? channels - begin : 32;
      uint32_t gt = 0, lt = 0, flip = 0;
      for (int j = 0; j < count; ++j) {
        const int c = begin + j;
        gt |= static_cast<uint32_t>(xr[c] > hi[c]) << j;
        lt |= static_cast<uint32_t>(xr[c] < lo[c]) << j;
        flip |= static_cast<uint32_t>(sgn[c] < 0.0f) << j;
      }
      // t = sgn * ([x > hi] - [x < lo]): nonzero iff exactly one comparison
      // holds; negative iff (x < lo) for sgn = +1, (x > hi) for sgn = -1.
      const uint32_t mask = gt ^ lt;
      o[2 * b] = mask;
      o[2 * b + 1] = mask & (lt ^ flip);
    }
  }
}


#if STTN_X86_DISPATCH
// Same bits as TernarizeScalar, 8 channels per comparison: vcmpps (ordered,
// so NaN compares false like the scalar `>`/`<`) and vmovmskps build the
// gt/lt/flip words directly; a short last block is read masked and its
// unused bits cleared.
__attribute__((target("avx2"))) void TernarizeAvx2(const float* x,
                                                   int64_t rows, int channels,
                                                   const float* thresholds,
                                                   int32_t* out) {
  const float* lo = thresholds;
  const float* hi = thresholds + channels;
  const float* sgn = thresholds + 2 * static_cast<int64_t>(channels);
  const int blocks = NumBlocks(channels);
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    uint32_t* o = reinterpret_cast<uint32_t*>(out + r * 2 * blocks);
    for (int b = 0; b < blocks; ++b) {
      const int begin = 32 * b;
      const int count = channels - begin < 32 ? channels - begin : 32;
      uint32_t gt = 0, lt = 0, flip = 0;
      for (int g = 0; g < 4 && 8 * g < count; ++g) {
        const int c = begin + 8 * g;
        __m256 xv, hv, lv, sv;
        if (8 * g + 8 <= count) {
          xv = _mm256_loadu_ps(xr + c);
          hv = _mm256_loadu_ps(hi + c);
          lv = _mm256_loadu_ps(lo + c);
          sv = _mm256_loadu_ps(sgn + c);
        } else {
          const __m256i m =
              _mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8 * g), lane);
          xv = _mm256_maskload_ps(xr + c, m);
          hv = _mm256_maskload_ps(hi + c, m);
          lv = _mm256_maskload_ps(lo + c, m);
          sv = _mm256_maskload_ps(sgn + c, m);
        }
        gt |= static_cast<uint32_t>(
                  _mm256_movemask_ps(_mm256_cmp_ps(xv, hv, _CMP_GT_OQ)))
              << (8 * g);
        lt |= static_cast<uint32_t>(
                  _mm256_movemask_ps(_mm256_cmp_ps(xv, lv, _CMP_LT_OQ)))
              << (8 * g);
        flip |= static_cast<uint32_t>(
                    _mm256_movemask_ps(_mm256_cmp_ps(sv, zero, _CMP_LT_OQ)))
                << (8 * g);
      }
      if (count < 32) {
        const uint32_t keep = (1u << count) - 1u;
        gt &= keep;
        lt &= keep;
      }
      const uint32_t mask = gt ^ lt;
      o[2 * b] = mask;
      o[2 * b + 1] = mask & (lt ^ flip);
    }
  }
}
#endif

}  // namespace

void TernarizeOptimized(const float* x, int64_t rows, int channels,
                        const float* thresholds, int32_t* out) {
#if STTN_X86_DISPATCH
  if (UseAvx2()) {
    TernarizeAvx2(x, rows, channels, thresholds, out);
    return;
  }
#endif
  TernarizeScalar(x, rows, channels, thresholds, out);
}

// ---------------------------------------------------------------------------
size_t Conv2DTernaryPackedWeightWords(const ConvShape& s) {
  return static_cast<size_t>(s.out_c) * s.kernel_h * s.kernel_w *
         PackedWidth(s.in_c);
}

void PrepareConv2DTernaryWeights(const ConvShape& s, const int8_t* w_ohwi,
                                 int32_t* w_packed) {
  PackTritsCompute(w_ohwi,
                   static_cast<int64_t>(s.out_c) * s.kernel_h * s.kernel_w,
                   s.in_c, w_packed);
}

void Conv2DTernaryOptimized(const ConvShape& s, const int32_t* x_packed,
                            const int32_t* w_packed, const float* scale,
                            const float* bias, Activation act, float* out) {
#if STTN_X86_DISPATCH
  if (UseAvx2() && avx2::ConvWindowFits(s)) {
    avx2::Conv2DTernary(s, x_packed, w_packed, scale, bias, act, out);
    return;
  }
  if (CpuHasPopcnt()) {
    Conv2DTernaryPopcnt(s, x_packed, w_packed, scale, bias, act, out);
    return;
  }
#endif
  Conv2DTernaryPortable(s, x_packed, w_packed, scale, bias, act, out);
}

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

// ---------------------------------------------------------------------------
void PrepareFullyConnectedTernaryWeights(const FullyConnectedShape& s,
                                         const int8_t* w, int32_t* w_packed) {
  PackTritsCompute(w, s.out_c, s.in_c, w_packed);
}

void FullyConnectedTernaryOptimized(const FullyConnectedShape& s,
                                    const int32_t* x_packed,
                                    const int32_t* w_packed, const float* scale,
                                    const float* bias, Activation act,
                                    float* out) {
#if STTN_X86_DISPATCH
  if (UseAvx2()) {
    avx2::FullyConnectedTernary(s, x_packed, w_packed, scale, bias, act, out);
    return;
  }
  if (CpuHasPopcnt()) {
    FullyConnectedTernaryPopcnt(s, x_packed, w_packed, scale, bias, act, out);
    return;
  }
#endif
  FullyConnectedTernaryPortable(s, x_packed, w_packed, scale, bias, act, out);
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
                                     void* scratch, float* out) {
  const DepthwiseLayout l = MakeDepthwiseLayout(s);
  uint8_t* base = reinterpret_cast<uint8_t*>(
      AlignUp64(reinterpret_cast<uintptr_t>(scratch)));
  const int8_t** rows = reinterpret_cast<const int8_t**>(base + l.row_ptrs);
#if STTN_X86_DISPATCH
  if (UseAvx2() && s.kernel_h * s.kernel_w <= kDwMaxInt8Taps) {
    avx2::DepthwiseTernary(s, l, x_packed, w_hwo, scale, bias, act, base, rows,
                           out);
    return;
  }
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
                                   const float* bias, Activation act,
                                   float* out) {
#if STTN_X86_DISPATCH
  if (UseAvx2() && s.depth_multiplier == 1) {
    avx2::DepthwiseFloatM1(s, x, w_float, scale, bias, act, out);
    return;
  }
#endif
  DepthwiseFloatScalar(s, x, w_float, scale, bias, act, out);
}

}  // namespace core
}  // namespace sttn
