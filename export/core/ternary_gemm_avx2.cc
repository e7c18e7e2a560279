// AVX2 micro-kernels: lanes 8, tile 4.
//
// AVX2 has no vector popcount. Per 32-channel chunk and pixel the kernel
// splits the products into pos = m & ~d and neg = m & d (m = w_m & x_m,
// d = w_s ^ x_s) and looks up both nibbles of every byte in a +count table
// (pos) and a -count table (neg) with vpshufb; the sums (each byte in
// [-8, 8]) accumulate in int8 lanes for up to 15 chunks, then vpmaddubsw and
// vpmaddwd widen them into the int32 lane of each output channel.
#include "export/core/ternary_gemm_internal.h"

namespace sttn {
namespace core {
namespace internal {

#if STTN_X86
namespace {

constexpr int kLanes = 8;
constexpr int kTile = 4;
constexpr int kFlushChunks = 15;  // 15 * 8 <= 127: int8 sums cannot wrap

#define STTN_AVX2 __attribute__((target("avx2,popcnt")))

template <int P>
STTN_AVX2 STTN_ALWAYS_INLINE void Flush(__m256i* acc32, __m256i* acc8) {
  const __m256i ones8 = _mm256_set1_epi8(1);
  const __m256i ones16 = _mm256_set1_epi16(1);
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    acc32[p] = _mm256_add_epi32(
        acc32[p],
        _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, acc8[p]), ones16));
    acc8[p] = _mm256_setzero_si256();
  }
}

template <int P>
STTN_AVX2 STTN_ALWAYS_INLINE void Micro(const MicroKernelArgs& a) {
  const __m256i lut_pos =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i lut_neg = _mm256_setr_epi8(
      0, -1, -1, -2, -1, -2, -2, -3, -1, -2, -2, -3, -2, -3, -3, -4,  //
      0, -1, -1, -2, -1, -2, -2, -3, -1, -2, -2, -3, -2, -3, -3, -4);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  __m256i acc32[P];
  __m256i acc8[P];
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    acc32[p] = _mm256_setzero_si256();
    acc8[p] = _mm256_setzero_si256();
  }
  int pending = 0;
  const uint32_t* w = a.w;
  for (int t = 0; t < a.taps; ++t) {
    const TapRows<P> x(a, t);
    for (int b = 0; b < a.blocks; ++b, w += 2 * kLanes) {
      STTN_MCA_BEGIN(P == kTile, "avx2");
      const __m256i wm =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i ws =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kLanes));
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        const __m256i m = _mm256_and_si256(
            wm, _mm256_set1_epi32(static_cast<int>(x[p][2 * b])));
        const __m256i d = _mm256_xor_si256(
            ws, _mm256_set1_epi32(static_cast<int>(x[p][2 * b + 1])));
        const __m256i pos = _mm256_andnot_si256(d, m);
        const __m256i neg = _mm256_and_si256(d, m);
        const __m256i c = _mm256_add_epi8(
            _mm256_add_epi8(
                _mm256_shuffle_epi8(lut_pos, _mm256_and_si256(pos, low4)),
                _mm256_shuffle_epi8(
                    lut_pos,
                    _mm256_and_si256(_mm256_srli_epi16(pos, 4), low4))),
            _mm256_add_epi8(
                _mm256_shuffle_epi8(lut_neg, _mm256_and_si256(neg, low4)),
                _mm256_shuffle_epi8(
                    lut_neg,
                    _mm256_and_si256(_mm256_srli_epi16(neg, 4), low4))));
        acc8[p] = _mm256_add_epi8(acc8[p], c);
      }
      STTN_MCA_END(P == kTile);
      if (++pending == kFlushChunks) {
        Flush<P>(acc32, acc8);
        pending = 0;
      }
    }
  }
  if (pending) Flush<P>(acc32, acc8);
  if (a.packed != nullptr) {
    const __m256i upper =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.upper));
    const __m256i lower =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.lower));
    const unsigned flip =
        static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.flip)))));
    const int valid_lanes = a.channels < kLanes ? a.channels : kLanes;
    const unsigned valid = (1u << valid_lanes) - 1u;
    STTN_UNROLL
    for (int p = 0; p < P; ++p) {
      if (p >= a.pixels) break;
      // acc >= upper == !(upper > acc); acc <= lower == !(acc > lower).
      const unsigned ge =
          ~static_cast<unsigned>(_mm256_movemask_ps(
              _mm256_castsi256_ps(_mm256_cmpgt_epi32(upper, acc32[p])))) &
          0xffu;
      const unsigned le =
          ~static_cast<unsigned>(_mm256_movemask_ps(
              _mm256_castsi256_ps(_mm256_cmpgt_epi32(acc32[p], lower)))) &
          0xffu;
      const unsigned mask = (ge ^ le) & valid;
      uint8_t* dst = a.packed + p * a.packed_stride;
      dst[0] = static_cast<uint8_t>(mask);
      dst[4] = static_cast<uint8_t>(mask & (le ^ flip));
    }
    return;
  }
  const __m256 scale = _mm256_loadu_ps(a.scale);
  const __m256 bias = _mm256_loadu_ps(a.bias);
  const __m256 zero = _mm256_setzero_ps();
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    if (p >= a.pixels) break;
    __m256 y =
        _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc32[p]), scale), bias);
    if (a.act == Activation::kRelu) y = _mm256_max_ps(y, zero);
    float* dst = a.out + p * a.out_stride;
    if (a.channels >= kLanes) {
      _mm256_storeu_ps(dst, y);
    } else {
      alignas(32) float tmp[kLanes];
      _mm256_store_ps(tmp, y);
      StoreLanes(tmp, kLanes, a.channels, dst);
    }
  }
}

STTN_AVX2 void Full(const MicroKernelArgs& a) { Micro<kTile>(a); }
STTN_AVX2 void Single(const MicroKernelArgs& a) { Micro<1>(a); }

}  // namespace

MicroKernels Avx2MicroKernels() {
  return MicroKernels{kLanes, kTile, Full, Single};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
