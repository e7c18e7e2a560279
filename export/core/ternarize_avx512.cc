// SttnTernarize, AVX-512 path: 16 channels per vcmpps into a mask register
// (ternarize_internal.h has the loop).
#include "export/core/ternarize_internal.h"

namespace sttn {
namespace core {
namespace ternarize {

#if STTN_X86_DISPATCH
namespace {

// 16 channels per comparison into a mask register; the tail of a row is
// read under a mask (no read past the row) and gives zero bits.
struct Avx512Bits {
  __attribute__((target("avx512f,avx512bw,avx512vl,avx2"))) void operator()(
      const float* xr, const TernarizeThresholds& th, int begin, int count,
      uint32_t* gt, uint32_t* lt, uint32_t* flip) const {
    const __m512 zero = _mm512_setzero_ps();
    for (int g = 0; g < 2; ++g) {
      const int c = begin + 16 * g;
      const int left = count - 16 * g;
      if (left <= 0) break;
      const __mmask16 k = left >= 16
                              ? static_cast<__mmask16>(0xffff)
                              : static_cast<__mmask16>((1u << left) - 1u);
      const __m512 xv = _mm512_maskz_loadu_ps(k, xr + c);
      const __m512 hv = _mm512_maskz_loadu_ps(k, th.hi + c);
      const __m512 lv = _mm512_maskz_loadu_ps(k, th.lo + c);
      const __m512 sv = _mm512_maskz_loadu_ps(k, th.sgn + c);
      // Ordered comparisons: NaN compares false, as in the scalar path.
      *gt |=
          static_cast<uint32_t>(_mm512_mask_cmp_ps_mask(k, xv, hv, _CMP_GT_OQ))
          << (16 * g);
      *lt |=
          static_cast<uint32_t>(_mm512_mask_cmp_ps_mask(k, xv, lv, _CMP_LT_OQ))
          << (16 * g);
      *flip |= static_cast<uint32_t>(
                   _mm512_mask_cmp_ps_mask(k, sv, zero, _CMP_LT_OQ))
               << (16 * g);
    }
  }
};

}  // namespace

__attribute__((target("avx512f,avx512bw,avx512vl,avx2"), flatten)) void
RowsAvx512(const float* x, int64_t rows, int channels, const float* thresholds,
           int32_t* out) {
  TernarizeLoop(x, rows, channels, thresholds, out, Avx512Bits{});
}
#endif  // STTN_X86_DISPATCH

}  // namespace ternarize
}  // namespace core
}  // namespace sttn
