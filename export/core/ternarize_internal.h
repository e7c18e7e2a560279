// Internal to SttnTernarize's optimized kernel: the row and block loop
// every path shares, the scalar comparisons, and the per-ISA row functions
// (ternarize_<isa>.cc, each compiled where its architecture is).
#ifndef STTN_EXPORT_CORE_TERNARIZE_INTERNAL_H_
#define STTN_EXPORT_CORE_TERNARIZE_INTERNAL_H_

#include <cstdint>

#include "export/core/cpu_target.h"
#include "export/core/kernels.h"

namespace sttn {
namespace core {
namespace ternarize {

// The row and block loops of every path. `bits(xr, th, begin, count, &gt,
// &lt, &flip)` sets bit j of gt / lt / flip to [x > hi] / [x < lo] /
// [sgn < 0] of channel begin + j (j < count <= 32, higher bits 0); then
// t = sgn * ([x > hi] - [x < lo]) is nonzero iff exactly one comparison
// holds, and negative iff (x < lo) for sgn = +1, (x > hi) for sgn = -1.
// The x86 paths call it from functions that are target(...) and flatten, so
// the loops and their ISA's `bits` compile into one body.
template <typename BlockBits>
STTN_ALWAYS_INLINE void TernarizeLoop(const float* x, int64_t rows,
                                      int channels, const float* thresholds,
                                      int32_t* out, BlockBits bits) {
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

// The rows of one call on each path (same arguments as TernarizeReference).
void RowsScalar(const float* x, int64_t rows, int channels,
                const float* thresholds, int32_t* out);
#if STTN_X86_DISPATCH
void RowsAvx2(const float* x, int64_t rows, int channels,
              const float* thresholds, int32_t* out);
void RowsAvx512(const float* x, int64_t rows, int channels,
                const float* thresholds, int32_t* out);
#endif
#if defined(__aarch64__)
void RowsNeon(const float* x, int64_t rows, int channels,
              const float* thresholds, int32_t* out);
#endif

}  // namespace ternarize
}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_TERNARIZE_INTERNAL_H_
