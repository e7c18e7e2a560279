// SttnTernarize, optimized: a scalar path that builds each 32-channel
// (mask, sign) word pair from comparisons, and an AVX2 path (used by the
// avx2 and avx512 kernel types) with 8 channels per vcmpps/vmovmskps.
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
                        const float* thresholds, Isa isa, int32_t* out) {
#if STTN_X86_DISPATCH
  if (IsaAtLeastAvx2(isa)) {
    TernarizeAvx2(x, rows, channels, thresholds, out);
    return;
  }
#else
  (void)isa;
#endif
  TernarizeScalar(x, rows, channels, thresholds, out);
}
}  // namespace core
}  // namespace sttn
