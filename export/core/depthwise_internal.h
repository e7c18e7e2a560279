// Internal to the ternary-input depthwise conv: the layouts of the prepared
// constants and per-thread scratch, the job the driver hands to the threads,
// the band loop that decodes input rows into a thread's ring, and the
// per-ISA work functions (each defined in its own depthwise_<isa>.cc, and
// only where the build has the path: the others return nullptr).
//
// Each input row an output row needs is decoded once into int8 lanes (one
// trit per byte, in output-channel order, so a depth multiplier M > 1 is
// expanded here: lane c * M + m holds input channel c) in a ring of
// kernel_h + 1 row slots per thread. Slot columns are the padded input
// columns (pad zeros around the decoded ones, zeroed once in Prepare), so
// border taps read zeros instead of being skipped; rows above/below the
// image point at the ring's zero slot. Every output is then a sum over taps
// of int8 products along contiguous lanes.
#ifndef STTN_EXPORT_CORE_DEPTHWISE_INTERNAL_H_
#define STTN_EXPORT_CORE_DEPTHWISE_INTERNAL_H_

#include <climits>
#include <cstddef>
#include <cstdint>

#include "export/core/cpu_target.h"
#include "export/core/kernels.h"
#include "export/core/threadpool.h"

namespace sttn {
namespace core {
namespace depthwise {

// int8 accumulators cannot overflow with at most this many taps.
constexpr int kMaxInt8Taps = 127;

inline size_t AlignUp64(size_t v) {
  return (v + 63) & ~static_cast<size_t>(63);
}

// The prepared constants (offsets from a 64-byte aligned base).
struct PreparedLayout {
  int cp = 0;            // lanes: out_c rounded up to 32
  size_t weights = 0;    // int8 [kh * kw][cp], zero past out_c
  size_t scale = 0;      // float [cp]
  size_t bias = 0;       // float [cp]
  size_t upper = 0;      // int32 [cp] (packed output)
  size_t lower = 0;      // int32 [cp]
  size_t flip = 0;       // int32 [cp]
  size_t upper8 = 0;     // int8 [cp]: acc >= upper  <=>  acc > upper8
  size_t lower8 = 0;     // int8 [cp]: acc <= lower  <=>  !(acc > lower8)
  size_t flip_bits = 0;  // uint32 [cp / 32]
  size_t packed_ok = 0;  // int32: integer thresholds usable
  size_t total = 0;
};
PreparedLayout MakePreparedLayout(const ConvShape& s);

// Per-thread scratch: a ring of kh + 1 decoded rows (the last one stays
// zero), an int32 accumulator row and the kh row pointers.
struct ThreadLayout {
  int64_t wp = 0;         // pixels per decoded row (padded input columns)
  size_t ring = 0;        // int8 [kh + 1][wp][cp]
  size_t acc = 0;         // int32 [cp]
  size_t row_ptrs = 0;    // const int8_t* [kh]
  size_t slot_bytes = 0;  // one thread's share
};
ThreadLayout MakeThreadLayout(const ConvShape& s, int cp);

struct Job {
  const ConvShape* s;
  PreparedLayout pl;
  ThreadLayout tl;
  const uint8_t* prepared;  // aligned
  uint8_t* scratch;         // aligned
  const uint32_t* x;
  Activation act;
  float* out;       // float output, or
  int32_t* packed;  // packed output
  int bands;        // per image
  int band_rows;

  template <typename T>
  const T* Constant(size_t offset) const {
    return reinterpret_cast<const T*>(prepared + offset);
  }
};

// Per-ISA work items of ParallelFor (ctx: a Job). nullptr: not in this build.
ParallelFn PortableItem();
ParallelFn Avx2Item();
ParallelFn NeonItem();

// 32 trits of one (mask, sign) block to 32 int8 lanes.
STTN_ALWAYS_INLINE void DecodeBlockScalar(uint32_t mask, uint32_t sign,
                                          int8_t* d) {
  for (int j = 0; j < 32; ++j) {
    const int nz = (mask >> j) & 1;
    const int neg = (sign >> j) & 1;
    d[j] = static_cast<int8_t>(nz * (1 - 2 * neg));
  }
}

// Decodes the input columns of one row into a ring slot (`dst`, whose pad
// columns and lanes past out_c stay zero). `decode(mask, sign, d)` writes 32
// lanes; a depth multiplier > 1 takes the trit-by-trit loop.
template <typename DecodeBlock>
STTN_ALWAYS_INLINE void DecodeRow(const ConvShape& s, int cp, int64_t wp,
                                  const uint32_t* x_row, int8_t* dst,
                                  DecodeBlock decode) {
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const int64_t cols = wp - s.pad_left < s.in_w ? wp - s.pad_left : s.in_w;
  const int m_count = s.depth_multiplier;
  for (int64_t ix = 0; ix < cols; ++ix) {
    const uint32_t* px = x_row + ix * width;
    int8_t* d = dst + (ix + s.pad_left) * cp;
    if (m_count == 1) {
      for (int b = 0; b < blocks; ++b)
        decode(px[2 * b], px[2 * b + 1], d + 32 * b);
    } else {
      for (int c = 0; c < s.in_c; ++c) {
        const int8_t t = static_cast<int8_t>(
            TritAt(reinterpret_cast<const int32_t*>(px), c));
        for (int m = 0; m < m_count; ++m) d[c * m_count + m] = t;
      }
    }
  }
}

// Runs row_fn(rows, slot, n, oy) for the output rows of one band, decoding
// input rows into the worker's ring (decode(x_row, dst)) as they are first
// needed.
template <typename Decode, typename RowFn>
STTN_ALWAYS_INLINE void RunBand(const Job& j, int64_t item, int worker,
                                Decode decode, RowFn row_fn) {
  const ConvShape& s = *j.s;
  const int n = static_cast<int>(item / j.bands);
  const int band = static_cast<int>(item % j.bands);
  const int oy0 = band * j.band_rows;
  const int oy1 = oy0 + j.band_rows < s.out_h ? oy0 + j.band_rows : s.out_h;
  uint8_t* slot = j.scratch + j.tl.slot_bytes * worker;
  int8_t* ring = reinterpret_cast<int8_t*>(slot + j.tl.ring);
  const int8_t** rows = reinterpret_cast<const int8_t**>(slot + j.tl.row_ptrs);
  const int64_t row_bytes = j.tl.wp * j.pl.cp;
  const int8_t* zero_row = ring + static_cast<int64_t>(s.kernel_h) * row_bytes;
  const int width = PackedWidth(s.in_c);
  int last = INT_MIN;  // highest input row decoded in this band
  for (int oy = oy0; oy < oy1; ++oy) {
    const int iy0 = oy * s.stride_h - s.pad_top;
    for (int ky = 0; ky < s.kernel_h; ++ky) {
      const int iy = iy0 + ky;
      if (iy < 0 || iy >= s.in_h) {
        rows[ky] = zero_row;
        continue;
      }
      int8_t* dst = ring + static_cast<int64_t>(iy % s.kernel_h) * row_bytes;
      if (iy > last) {
        decode(j.x + (static_cast<int64_t>(n) * s.in_h + iy) * s.in_w * width,
               dst);
        last = iy;
      }
      rows[ky] = dst;
    }
    row_fn(rows, slot, n, oy);
  }
}

}  // namespace depthwise
}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_DEPTHWISE_INTERNAL_H_
