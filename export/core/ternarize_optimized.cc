// SttnTernarize, optimized: a scalar path that builds each 32-channel
// (mask, sign) word pair from comparisons, an AVX2 path with 8 channels per
// vcmpps/vmovmskps and an AVX-512 path with 16 channels per vcmpps into a
// mask register. Rows are split over threads (core::ParallelFor).
#include <cstring>

#include "export/core/cpu_target.h"
#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/threadpool.h"

namespace sttn {
namespace core {

namespace {

// The row and block loops of every path. `bits(xr, th, begin, count, &gt,
// &lt, &flip)` sets bit j of gt / lt / flip to [x > hi] / [x < lo] /
// [sgn < 0] of channel begin + j (j < count <= 32, higher bits 0); then
// t = sgn * ([x > hi] - [x < lo]) is nonzero iff exactly one comparison
// holds, and negative iff (x < lo) for sgn = +1, (x > hi) for sgn = -1.
// The x86 paths call it from functions that are target(...) and flatten, so
// the loops and their ISA's `bits` compile into one body.
template <typename BlockBits>
inline void TernarizeLoop(const float* x, int64_t rows, int channels,
                          const float* thresholds, int32_t* out,
                          BlockBits bits) {
  const TernarizeThresholds th(thresholds, channels);
  const int blocks = NumBlocks(channels);
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    uint32_t* o = reinterpret_cast<uint32_t*>(out + r * 2 * blocks);
    for (int b = 0; b < blocks; ++b) {
      const int begin = 32 * b;
      const int count = channels - begin < 32 ? channels - begin : 32;
      uint32_t gt = 0, lt = 0, flip = 0;
      bits(xr, th, begin, count, &gt, &lt, &flip);
      const uint32_t mask = gt ^ lt;
      o[2 * b] = mask;
      o[2 * b + 1] = mask & (lt ^ flip);
    }
  }
}

struct ScalarBits {
  void operator()(const float* xr, const TernarizeThresholds& th, int begin,
                  int count, uint32_t* gt, uint32_t* lt, uint32_t* flip) const {
    for (int j = 0; j < count; ++j) {
      const int c = begin + j;
      *gt |= static_cast<uint32_t>(xr[c] > th.hi[c]) << j;
      *lt |= static_cast<uint32_t>(xr[c] < th.lo[c]) << j;
      *flip |= static_cast<uint32_t>(th.sgn[c] < 0.0f) << j;
    }
  }
};

#if STTN_X86_DISPATCH
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

__attribute__((target("avx2"), flatten)) void TernarizeAvx2(
    const float* x, int64_t rows, int channels, const float* thresholds,
    int32_t* out) {
  TernarizeLoop(x, rows, channels, thresholds, out, Avx2Bits{});
}

__attribute__((target("avx512f,avx512bw,avx512vl,avx2"), flatten)) void
TernarizeAvx512(const float* x, int64_t rows, int channels,
                const float* thresholds, int32_t* out) {
  TernarizeLoop(x, rows, channels, thresholds, out, Avx512Bits{});
}
#endif

void TernarizeScalar(const float* x, int64_t rows, int channels,
                     const float* thresholds, int32_t* out) {
  TernarizeLoop(x, rows, channels, thresholds, out, ScalarBits{});
}

void TernarizeRows(const float* x, int64_t rows, int channels,
                   const float* thresholds, Isa isa, int32_t* out) {
#if STTN_X86_DISPATCH
  if (isa == Isa::kAvx512) {
    TernarizeAvx512(x, rows, channels, thresholds, out);
    return;
  }
  if (IsaAtLeastAvx2(isa)) {
    TernarizeAvx2(x, rows, channels, thresholds, out);
    return;
  }
#else
  (void)isa;
#endif
  TernarizeScalar(x, rows, channels, thresholds, out);
}

struct TernarizeJob {
  const float* x;
  int64_t rows;
  int64_t rows_per_item;
  int channels;
  const float* thresholds;
  Isa isa;
  int32_t* out;
};

void TernarizeItem(void* ctx, int64_t item, int /*worker*/) {
  const TernarizeJob& j = *static_cast<const TernarizeJob*>(ctx);
  const int64_t begin = item * j.rows_per_item;
  const int64_t n =
      j.rows - begin < j.rows_per_item ? j.rows - begin : j.rows_per_item;
  TernarizeRows(j.x + begin * j.channels, n, j.channels, j.thresholds, j.isa,
                j.out + begin * PackedWidth(j.channels));
}

}  // namespace

void TernarizeOptimized(const float* x, int64_t rows, int channels,
                        const float* thresholds, Isa isa, int32_t* out,
                        int threads) {
  // Items of at least ~16k elements: smaller ones cost more to hand out.
  const int64_t min_rows = 1 + (16384 / (channels > 0 ? channels : 1));
  if (threads <= 1 || rows < 2 * min_rows) {
    TernarizeRows(x, rows, channels, thresholds, isa, out);
    return;
  }
  TernarizeJob j{x, rows, 0, channels, thresholds, isa, out};
  int64_t items = 4 * static_cast<int64_t>(threads);
  if (rows / items < min_rows) items = rows / min_rows;
  j.rows_per_item = (rows + items - 1) / items;
  ParallelFor(threads, (rows + j.rows_per_item - 1) / j.rows_per_item,
              TernarizeItem, &j);
}
}  // namespace core
}  // namespace sttn
