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

// The quads of pixel p block by block (tap by tap, 8 quads per 32-channel
// block, fewer in a tap's last): after Next() returns true, Row(j) is the
// table row of quad j < n of the block: its section plus row_offset[j * 256
// + pattern] (ternary_gemm.h). A cursor the kernels drive in their own
// loops rather than a walker with a callback: a target("avx2") callback
// could not be inlined into a plain walker.
class QuadBlocks {
 public:
  STTN_ALWAYS_INLINE QuadBlocks(const MicroKernelArgs& a, int p)
      : a_(a),
        x_(a.x + static_cast<int64_t>(p) * a.taps),
        section_(static_cast<int64_t>(kTableRows) * a.table_stride),
        base_(a.table) {}

  int n = 0;  // quads of the current block

  STTN_ALWAYS_INLINE bool Next() {
    base_ += n * section_;
    if (q_ == a_.quads) {
      if (++t_ == a_.taps) return false;
      q_ = 0;
    }
    if (q_ == 0) row_ = x_[t_];
    n = a_.quads - q_ < 8 ? a_.quads - q_ : 8;
    const uint32_t m = row_[q_ / 4], s = row_[q_ / 4 + 1];
    even_ = (m & 0x0f0f0f0fu) | ((s & 0x0f0f0f0fu) << 4);
    odd_ = ((m >> 4) & 0x0f0f0f0fu) | (s & 0xf0f0f0f0u);
    q_ += n;
    return true;
  }

  // Byte i of even_: the pattern of quad 2i of the block; of odd_: 2i + 1.
  STTN_ALWAYS_INLINE const int8_t* Row(int j) const {
    const uint32_t word = (j & 1) ? odd_ : even_;
    const int8_t* row =
        base_ + a_.row_offset[j * 256 + ((word >> (8 * (j >> 1))) & 0xffu)];
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
