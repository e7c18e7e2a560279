// SttnTernarize, NEON path (aarch64 Advanced SIMD). Per 32-channel block:
// `fcmgt` of x against hi and of lo against x, 4 channels each (ordered
// comparisons: NaN compares false, as the scalar `>` / `<`); the 0 / -1
// lanes are narrowed to bytes with uzp1 (channel order kept), ANDed with
// per-byte bit weights and gathered into the two 32-bit words with pairwise
// adds (addp). The sign words ([sgn < 0]) depend on the channel only: they
// are built once per call. A short last block of whole 4-channel groups
// reads only those; any other is compared on zero-padded copies, whose lanes
// give no bits.
#include <cstdint>
#include <cstring>

#include "export/core/ternarize_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>

namespace sttn {
namespace core {
namespace ternarize {
namespace {

// 32 comparison lanes (8 x uint32x4) to 32 bytes, channel order kept.
STTN_ALWAYS_INLINE uint8x16x2_t Narrow(const uint32x4_t (&m)[8]) {
  uint16x8_t h[4];
  for (int i = 0; i < 4; ++i) {
    h[i] = vuzp1q_u16(vreinterpretq_u16_u32(m[2 * i]),
                      vreinterpretq_u16_u32(m[2 * i + 1]));
  }
  uint8x16x2_t b;
  b.val[0] = vuzp1q_u8(vreinterpretq_u8_u16(h[0]), vreinterpretq_u8_u16(h[1]));
  b.val[1] = vuzp1q_u8(vreinterpretq_u8_u16(h[2]), vreinterpretq_u8_u16(h[3]));
  return b;
}

// (gt, lt) words of the first 4 * groups of 32 channels at x (lo, hi: their
// thresholds); the other channels give no bits and are not read.
STTN_ALWAYS_INLINE uint64_t Block(const float* x, const float* lo,
                                  const float* hi, int groups,
                                  uint8x16_t bits) {
  uint32x4_t gt[8], lt[8];
  for (int g = 0; g < 8; ++g) {
    if (g < groups) {
      const float32x4_t xv = vld1q_f32(x + 4 * g);
      gt[g] = vcgtq_f32(xv, vld1q_f32(hi + 4 * g));
      lt[g] = vcltq_f32(xv, vld1q_f32(lo + 4 * g));
    } else {
      gt[g] = vdupq_n_u32(0);
      lt[g] = vdupq_n_u32(0);
    }
  }
  const uint8x16x2_t g = Narrow(gt);
  const uint8x16x2_t l = Narrow(lt);
  const uint8x16_t quads =
      vpaddq_u8(vpaddq_u8(vandq_u8(g.val[0], bits), vandq_u8(g.val[1], bits)),
                vpaddq_u8(vandq_u8(l.val[0], bits), vandq_u8(l.val[1], bits)));
  return vgetq_lane_u64(vreinterpretq_u64_u8(vpaddq_u8(quads, quads)), 0);
}

}  // namespace

void RowsNeon(const float* x, int64_t rows, int channels,
              const float* thresholds, int32_t* out) {
  const TernarizeThresholds th(thresholds, channels);
  const int blocks = NumBlocks(channels);
  const int full = channels / 32;
  const int tail = channels - 32 * full;
  const uint8_t weights[16] = {1, 2, 4, 8, 16, 32, 64, 128,
                               1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t bits = vld1q_u8(weights);
  // The sign flips of every block, and the tail's padded thresholds.
  constexpr int kStackBlocks = 64;  // 2048 channels
  uint32_t flip_stack[kStackBlocks];
  float tail_lo[32] = {}, tail_hi[32] = {};
  if (tail > 0) {
    std::memcpy(tail_lo, th.lo + 32 * full, sizeof(float) * tail);
    std::memcpy(tail_hi, th.hi + 32 * full, sizeof(float) * tail);
  }
  const bool flips_on_stack = blocks <= kStackBlocks;
  if (flips_on_stack) {
    for (int b = 0; b < blocks; ++b) {
      uint32_t f = 0;
      for (int j = 0; j < 32 && 32 * b + j < channels; ++j) {
        f |= static_cast<uint32_t>(th.sgn[32 * b + j] < 0.0f) << j;
      }
      flip_stack[b] = f;
    }
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * channels;
    uint32_t* o = reinterpret_cast<uint32_t*>(out + r * 2 * blocks);
    for (int b = 0; b < blocks; ++b) {
      uint64_t w;
      if (b < full) {
        w = Block(xr + 32 * b, th.lo + 32 * b, th.hi + 32 * b, 8, bits);
      } else if (tail % 4 == 0) {
        w = Block(xr + 32 * b, th.lo + 32 * b, th.hi + 32 * b, tail / 4, bits);
      } else {
        float xt[32] = {};
        std::memcpy(xt, xr + 32 * b, sizeof(float) * tail);
        w = Block(xt, tail_lo, tail_hi, 8, bits);
      }
      uint32_t flip;
      if (flips_on_stack) {
        flip = flip_stack[b];
      } else {
        uint32_t gt_unused = 0, lt_unused = 0;
        flip = 0;
        ScalarBits{}(xr, th, 32 * b, b < full ? 32 : tail, &gt_unused,
                     &lt_unused, &flip);
      }
      const uint32_t gt = static_cast<uint32_t>(w);
      const uint32_t lt = static_cast<uint32_t>(w >> 32);
      const uint32_t mask = gt ^ lt;
      o[2 * b] = mask;
      o[2 * b + 1] = mask & (lt ^ flip);
    }
  }
}

}  // namespace ternarize
}  // namespace core
}  // namespace sttn
#endif  // __aarch64__
