// NEON (aarch64 Advanced SIMD) micro-kernels: lanes 8 (two uint32x4), tile 4;
// one call runs up to 16 pixels over a run of weight groups (the AVX2
// kernel's structure: a group's thresholds or affine loaded once for all).
//
// Per 32-channel chunk, pixel and 4 lanes: m = w_m & dup(x_m),
// neg = m & (w_s ^ dup(x_s)), cnt of both (per-byte popcounts) added into
// two uint8 partial sums: 7 instructions per 128 trit multiply-accumulates,
// against 8 for int8 SDOT's 128. Every 15 chunks (and once at the end, the
// only time for a short-K 1x1 conv) one mls forms sum_m - 2 sum_n per byte,
// exact in int8 (at most 8 in magnitude per chunk; the uint8 sums may wrap,
// the arithmetic is modular), and two saddlp widen it to the int32 lanes.
#include "export/core/ternary_gemm_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace sttn {
namespace core {
namespace internal {

#if defined(__aarch64__)
namespace {

constexpr int kLanes = 8;
constexpr int kTile = 4;
// Pixels one call takes (the driver's tile on this path).
constexpr int kMaxPixels = 16;
constexpr int kFlushChunks = 15;  // 15 * 8 <= 127: int8 sums cannot wrap

// The int8 sums of one half (4 lanes x 4 bytes) widened to int32 per lane.
STTN_ALWAYS_INLINE int32x4_t Widen(uint8x16_t v) {
  return vpaddlq_s16(vpaddlq_s8(vreinterpretq_s8_u8(v)));
}

// One group's dot products of P pixels (rows x[p * taps + t]) into
// acc32[p][half]. Per chunk each byte's cnt(m) - 2 cnt(neg) lies in [-8, 8]
// (neg is a subset of m), so after at most kFlushChunks chunks the two
// modular uint8 sums give it exactly in int8.
template <int P>
STTN_ALWAYS_INLINE void Dot(const uint32_t* const* x, int taps, int blocks,
                            const uint32_t* w, int32x4_t (*acc32)[2]) {
  const uint8x16_t two = vdupq_n_u8(2);
  uint8x16_t acc_m[P][2], acc_n[P][2];
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    for (int h = 0; h < 2; ++h) {
      acc32[p][h] = vdupq_n_s32(0);
      acc_m[p][h] = vdupq_n_u8(0);
      acc_n[p][h] = vdupq_n_u8(0);
    }
  }
  int pending = 0;
  for (int t = 0; t < taps; ++t) {
    const uint32_t* row[P];
    STTN_UNROLL
    for (int p = 0; p < P; ++p) row[p] = x[p * taps + t];
    for (int b = 0; b < blocks; ++b, w += 2 * kLanes) {
      STTN_MCA_BEGIN(P == kTile, "neon");
      const uint32x4_t wm[2] = {vld1q_u32(w), vld1q_u32(w + 4)};
      const uint32x4_t ws[2] = {vld1q_u32(w + kLanes),
                                vld1q_u32(w + kLanes + 4)};
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        // One ld2r: the (mask, sign) pair broadcast into two registers in the
        // load pipe, no dup on the vector pipes.
        const uint32x4x2_t xv = vld2q_dup_u32(row[p] + 2 * b);
        const uint32x4_t xm = xv.val[0];
        const uint32x4_t xs = xv.val[1];
        for (int h = 0; h < 2; ++h) {
          const uint32x4_t m = vandq_u32(wm[h], xm);
          const uint32x4_t neg = vandq_u32(m, veorq_u32(ws[h], xs));
          acc_m[p][h] =
              vaddq_u8(acc_m[p][h], vcntq_u8(vreinterpretq_u8_u32(m)));
          acc_n[p][h] =
              vaddq_u8(acc_n[p][h], vcntq_u8(vreinterpretq_u8_u32(neg)));
        }
      }
      STTN_MCA_END(P == kTile);
      if (++pending == kFlushChunks) {
        STTN_UNROLL
        for (int p = 0; p < P; ++p) {
          for (int h = 0; h < 2; ++h) {
            acc32[p][h] = vaddq_s32(
                acc32[p][h], Widen(vmlsq_u8(acc_m[p][h], acc_n[p][h], two)));
            acc_m[p][h] = vdupq_n_u8(0);
            acc_n[p][h] = vdupq_n_u8(0);
          }
        }
        pending = 0;
      }
    }
  }
  if (pending) {
    STTN_UNROLL
    for (int p = 0; p < P; ++p) {
      for (int h = 0; h < 2; ++h) {
        acc32[p][h] = vaddq_s32(acc32[p][h],
                                Widen(vmlsq_u8(acc_m[p][h], acc_n[p][h], two)));
      }
    }
  }
}

// A group's packed-output constants: per lane, nonzero iff (acc >= upper) !=
// (acc <= lower), negative iff also (acc <= lower) != flip; each lane's
// compare becomes its bit (1 << lane) and pairwise adds gather a pixel's
// byte.
struct PackedGroup {
  int32x4_t upper[2], lower[2];
  uint32x4_t flip, valid;  // the group's lane bits, in every 32-bit lane
  int64_t stride;
};

STTN_ALWAYS_INLINE uint32x4_t LaneBits(uint32x4_t lo, uint32x4_t hi) {
  const uint32x4_t w_lo = {1u, 2u, 4u, 8u};
  const uint32x4_t w_hi = {16u, 32u, 64u, 128u};
  return vorrq_u32(vandq_u32(lo, w_lo), vandq_u32(hi, w_hi));
}

// The lane bits of P pixels' compares: lane p of the result is pixel p's.
template <int P>
STTN_ALWAYS_INLINE void PackedBits(const PackedGroup& q,
                                   const int32x4_t (*acc)[2], uint32x4_t* ge,
                                   uint32x4_t* le) {
  uint32x4_t g[P], l[P];
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    g[p] = LaneBits(vcgeq_s32(acc[p][0], q.upper[0]),
                    vcgeq_s32(acc[p][1], q.upper[1]));
    l[p] = LaneBits(vcleq_s32(acc[p][0], q.lower[0]),
                    vcleq_s32(acc[p][1], q.lower[1]));
  }
  if constexpr (P == 4) {
    *ge = vpaddq_u32(vpaddq_u32(g[0], g[1]), vpaddq_u32(g[2], g[3]));
    *le = vpaddq_u32(vpaddq_u32(l[0], l[1]), vpaddq_u32(l[2], l[3]));
  } else {
    *ge = vdupq_n_u32(vaddvq_u32(g[0]));
    *le = vdupq_n_u32(vaddvq_u32(l[0]));
  }
}

template <int P>
STTN_ALWAYS_INLINE void StorePacked(const PackedGroup& q,
                                    const int32x4_t (*acc)[2], uint8_t* dst) {
  uint32x4_t ge, le;
  PackedBits<P>(q, acc, &ge, &le);
  const uint32x4_t mask = vandq_u32(veorq_u32(ge, le), q.valid);
  const uint32x4_t sign = vandq_u32(mask, veorq_u32(le, q.flip));
  uint32_t m[4], s[4];
  vst1q_u32(m, mask);
  vst1q_u32(s, sign);
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    dst[p * q.stride] = static_cast<uint8_t>(m[p]);
    dst[p * q.stride + 4] = static_cast<uint8_t>(s[p]);
  }
}

struct FloatGroup {
  float32x4_t scale[2], bias[2];
  int left;  // lanes to store, 8 but in the last group
  bool relu;
  int64_t stride;
};

STTN_ALWAYS_INLINE void StoreFloat(const FloatGroup& q, const int32x4_t* acc,
                                   float* dst) {
  const float32x4_t zero = vdupq_n_f32(0.0f);
  float y[kLanes];
  for (int h = 0; h < 2; ++h) {
    // scale * acc + bias, rounded twice like the reference's Epilogue.
    float32x4_t v =
        vaddq_f32(vmulq_f32(vcvtq_f32_s32(acc[h]), q.scale[h]), q.bias[h]);
    if (q.relu) {
      // !(v > 0) -> 0, as the reference (NaN and -0 become +0).
      v = vbslq_f32(vcgtq_f32(v, zero), v, zero);
    }
    if (q.left >= kLanes) {
      vst1q_f32(dst + 4 * h, v);
    } else {
      vst1q_f32(y + 4 * h, v);
    }
  }
  if (q.left < kLanes) StoreLanes(y, kLanes, q.left, dst);
}

// The run of groups over up to kMaxPixels pixels: per group, the pixels in
// tiles of 4 (the group's thresholds or affine loaded once), then one by
// one.
void Kernel(const MicroKernelArgs& a) {
  const int taps = a.taps;
  const int blocks = a.blocks;
  const int pixels = a.pixels;
  const int groups = a.groups;
  const int64_t group_words = static_cast<int64_t>(taps) * blocks * 2 * kLanes;
  const uint32_t* const* const x = a.x;
  const uint32_t* w = a.w;
  if (a.packed != nullptr) {
    PackedGroup q;
    q.stride = a.packed_stride;
    uint8_t* const packed = a.packed;
    const int32_t* const upper = a.upper;
    const int32_t* const lower = a.lower;
    const int32_t* const flip = a.flip;
    const int channels = a.channels;
    const int first_group = a.first_group;
    for (int g = 0; g < groups; ++g, w += group_words) {
      const int o = g * kLanes;
      q.upper[0] = vld1q_s32(upper + o);
      q.upper[1] = vld1q_s32(upper + o + 4);
      q.lower[0] = vld1q_s32(lower + o);
      q.lower[1] = vld1q_s32(lower + o + 4);
      q.flip = vdupq_n_u32(
          vaddvq_u32(LaneBits(vreinterpretq_u32_s32(vld1q_s32(flip + o)),
                              vreinterpretq_u32_s32(vld1q_s32(flip + o + 4)))));
      const int left = channels - o;
      q.valid = vdupq_n_u32(left >= kLanes ? 0xffu : (1u << left) - 1u);
      // Group's byte: block group / 4 (two words), byte group % 4 of each.
      const int group = first_group + g;
      uint8_t* const dst = packed + (group / 4) * 8 + (group % 4);
      int p = 0;
      for (; p + kTile <= pixels; p += kTile) {
        int32x4_t acc[kTile][2];
        Dot<kTile>(x + p * taps, taps, blocks, w, acc);
        StorePacked<kTile>(q, acc, dst + p * q.stride);
      }
      for (; p < pixels; ++p) {
        int32x4_t acc[1][2];
        Dot<1>(x + p * taps, taps, blocks, w, acc);
        StorePacked<1>(q, acc, dst + p * q.stride);
      }
    }
    return;
  }
  FloatGroup q;
  q.stride = a.out_stride;
  q.relu = a.act == Activation::kRelu;
  for (int g = 0; g < groups; ++g, w += group_words) {
    const int o = g * kLanes;
    q.scale[0] = vld1q_f32(a.scale + o);
    q.scale[1] = vld1q_f32(a.scale + o + 4);
    q.bias[0] = vld1q_f32(a.bias + o);
    q.bias[1] = vld1q_f32(a.bias + o + 4);
    q.left = a.channels - o;
    float* const dst = a.out + o;
    int p = 0;
    for (; p + kTile <= pixels; p += kTile) {
      int32x4_t acc[kTile][2];
      Dot<kTile>(x + p * taps, taps, blocks, w, acc);
      STTN_UNROLL
      for (int i = 0; i < kTile; ++i) {
        StoreFloat(q, acc[i], dst + (p + i) * q.stride);
      }
    }
    for (; p < pixels; ++p) {
      int32x4_t acc[1][2];
      Dot<1>(x + p * taps, taps, blocks, w, acc);
      StoreFloat(q, acc[0], dst + p * q.stride);
    }
  }
}

}  // namespace

MicroKernels NeonMicroKernels() {
  return MicroKernels{kLanes, kTile, Kernel, Kernel, kMaxPixels};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
