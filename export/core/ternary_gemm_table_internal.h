// Shared by the table kernels (ternary_gemm_table_<isa>.cc): the table row
// of every quad of one pixel.
#ifndef STTN_EXPORT_CORE_TERNARY_GEMM_TABLE_INTERNAL_H_
#define STTN_EXPORT_CORE_TERNARY_GEMM_TABLE_INTERNAL_H_

#include "export/core/ternary_gemm_internal.h"

// Keeps `v` in a general-purpose register: GCC would otherwise build the
// row pointers in vector registers with inserts and store them as vectors,
// and each scalar reload of one pointer then misses store forwarding (that
// made the kernel 3-4x slower).
#if defined(__GNUC__)
#define STTN_SCALAR(v) __asm__("" : "+r"(v))
#else
#define STTN_SCALAR(v) (void)0
#endif

namespace sttn {
namespace core {
namespace internal {

// The slices of kTrits channels of pixel p, block by block (tap by tap,
// 32 / kTrits slices per 32-channel block, fewer in a tap's last): after
// Next() returns true, Row(j) is the table row of slice j < n of the block:
// its section plus row_offset[j * patterns + pattern] (ternary_gemm.h). A
// cursor the kernels drive in their own loops rather than a walker with a
// callback: a target("avx2") callback could not be inlined into a plain
// walker.
template <int kTrits>
class SliceBlocks {
 public:
  static constexpr int kPerBlock = 32 / kTrits;
  static constexpr int kRows = kTrits == 4 ? 81 : 9;
  static constexpr int kPatternBits = 2 * kTrits;

  STTN_ALWAYS_INLINE SliceBlocks(const MicroKernelArgs& a, int p)
      : a_(a),
        x_(a.x + static_cast<int64_t>(p) * a.taps),
        section_(static_cast<int64_t>(kRows) * a.table_stride),
        base_(a.table) {}

  int n = 0;  // slices of the current block

  STTN_ALWAYS_INLINE bool Next() {
    base_ += n * section_;
    if (q_ == a_.slices) {
      if (++t_ == a_.taps) return false;
      q_ = 0;
    }
    if (q_ == 0) row_ = x_[t_];
    n = a_.slices - q_ < kPerBlock ? a_.slices - q_ : kPerBlock;
    const uint32_t* w = row_ + 2 * (q_ / kPerBlock);
    const uint32_t m = w[0], s = w[1];
    // Field i (kPatternBits wide) of even_: the pattern of slice 2i of the
    // block, mask bits then sign bits; of odd_: of slice 2i + 1.
    if constexpr (kTrits == 4) {
      even_ = (m & 0x0f0f0f0fu) | ((s & 0x0f0f0f0fu) << 4);
      odd_ = ((m >> 4) & 0x0f0f0f0fu) | (s & 0xf0f0f0f0u);
    } else {
      even_ = (m & 0x33333333u) | ((s & 0x33333333u) << 2);
      odd_ = ((m >> 2) & 0x33333333u) | (s & 0xccccccccu);
    }
    q_ += n;
    return true;
  }

  STTN_ALWAYS_INLINE const int8_t* Row(int j) const {
    constexpr uint32_t kField = (1u << kPatternBits) - 1u;
    const uint32_t word = (j & 1) ? odd_ : even_;
    const uint32_t pattern = (word >> (kPatternBits * (j >> 1))) & kField;
    const int8_t* row = base_ + a_.row_offset[(j << kPatternBits) + pattern];
    STTN_SCALAR(row);
    return row;
  }

 private:
  const MicroKernelArgs& a_;
  const uint32_t* const* x_;
  const uint32_t* row_ = nullptr;
  int64_t section_;
  const int8_t* base_;
  int t_ = 0, q_ = 0;
  uint32_t even_ = 0, odd_ = 0;
};

}  // namespace internal
}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_TERNARY_GEMM_TABLE_INTERNAL_H_
