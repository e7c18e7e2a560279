// SttnTernarize, AVX2 path: 8 channels per vcmpps, vmovmskps builds the
// words (ternarize_internal.h has the loop).
#include "export/core/ternarize_internal.h"

namespace sttn {
namespace core {
namespace ternarize {

#if STTN_X86_DISPATCH
namespace {

// 8 channels per comparison: vcmpps (ordered, so NaN compares false like
// the scalar `>`/`<`) and vmovmskps build the words directly; a short last
// group is read masked and its unused bits cleared.
struct Avx2Bits {
  __attribute__((target("avx2"))) void operator()(const float* xr,
                                                  const TernarizeThresholds& th,
                                                  int begin, int count,
                                                  uint32_t* gt, uint32_t* lt,
                                                  uint32_t* flip) const {
    const __m256 zero = _mm256_setzero_ps();
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int g = 0; g < 4 && 8 * g < count; ++g) {
      const int c = begin + 8 * g;
      __m256 xv, hv, lv, sv;
      if (8 * g + 8 <= count) {
        xv = _mm256_loadu_ps(xr + c);
        hv = _mm256_loadu_ps(th.hi + c);
        lv = _mm256_loadu_ps(th.lo + c);
        sv = _mm256_loadu_ps(th.sgn + c);
      } else {
        const __m256i m =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(count - 8 * g), lane);
        xv = _mm256_maskload_ps(xr + c, m);
        hv = _mm256_maskload_ps(th.hi + c, m);
        lv = _mm256_maskload_ps(th.lo + c, m);
        sv = _mm256_maskload_ps(th.sgn + c, m);
      }
      *gt |= static_cast<uint32_t>(
                 _mm256_movemask_ps(_mm256_cmp_ps(xv, hv, _CMP_GT_OQ)))
             << (8 * g);
      *lt |= static_cast<uint32_t>(
                 _mm256_movemask_ps(_mm256_cmp_ps(xv, lv, _CMP_LT_OQ)))
             << (8 * g);
      *flip |= static_cast<uint32_t>(
                   _mm256_movemask_ps(_mm256_cmp_ps(sv, zero, _CMP_LT_OQ)))
               << (8 * g);
    }
    if (count < 32) {
      const uint32_t keep = (1u << count) - 1u;
      *gt &= keep;
      *lt &= keep;
    }
  }
};

}  // namespace

__attribute__((target("avx2"), flatten)) void RowsAvx2(const float* x,
                                                       int64_t rows,
                                                       int channels,
                                                       const float* thresholds,
                                                       int32_t* out) {
  TernarizeLoop(x, rows, channels, thresholds, out, Avx2Bits{});
}

#endif  // STTN_X86_DISPATCH

}  // namespace ternarize
}  // namespace core
}  // namespace sttn
