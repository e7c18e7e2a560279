// SttnTernarize, optimized: the driver (rows split over threads with
// core::ParallelFor, choice of path) and the scalar path, which builds each
// 32-channel (mask, sign) word pair from comparisons. The SIMD paths are in
// ternarize_<isa>.cc: avx2 (8 channels per vcmpps/vmovmskps), avx512 (16
// per vcmpps into a mask register) and neon (4 per fcmgt, narrowed to bytes
// and gathered into bits with addp).
#include <cstring>

#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/ternarize_internal.h"
#include "export/core/threadpool.h"

namespace sttn {
namespace core {

namespace ternarize {

void RowsScalar(const float* x, int64_t rows, int channels,
                const float* thresholds, int32_t* out) {
  TernarizeLoop(x, rows, channels, thresholds, out, ScalarBits{});
}

}  // namespace ternarize

namespace {

void TernarizeRows(const float* x, int64_t rows, int channels,
                   const float* thresholds, Isa isa, int32_t* out) {
#if STTN_X86_DISPATCH
  if (isa == Isa::kAvx512) {
    ternarize::RowsAvx512(x, rows, channels, thresholds, out);
    return;
  }
  if (IsaAtLeastAvx2(isa)) {
    ternarize::RowsAvx2(x, rows, channels, thresholds, out);
    return;
  }
#endif
#if defined(__aarch64__)
  if (isa == Isa::kNeon) {
    ternarize::RowsNeon(x, rows, channels, thresholds, out);
    return;
  }
#endif
  (void)isa;
  ternarize::RowsScalar(x, rows, channels, thresholds, out);
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
