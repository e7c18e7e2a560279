// NEON table kernels (the table method of ternary_gemm.h): lanes 32, two
// int8x16 vectors of 16 output channels per group; the AVX2 file's
// structure (ternary_gemm_table_avx2.cc).
//
// Per pixel: the row of every slice (SliceBlocks), one add per slice and
// half-group, int8 sums widened to int16 (four int16x8 per group) as they
// fill when a layer has more slices than they hold. NEON has no byte movemask:
// a group's 32 compare results become a 32-bit word by masking each byte with
// its bit (1, 2, ..., 128 per 8 lanes) and three pairwise adds, mask and sign
// words of a group together.
#include "export/core/ternary_gemm_internal.h"
#include "export/core/ternary_gemm_table_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace sttn {
namespace core {
namespace internal {

#if defined(__aarch64__)
namespace {

constexpr int kMaxPixels = 16;
constexpr int kInt8Groups = 8;
constexpr int kInt16Groups = 4;

// A group's thresholds for int8 or int16 compares; flip and valid as bits.
struct Thresholds {
  int8x16_t upper8[2], lower8[2];    // int8 sums
  int16x8_t upper16[4], lower16[4];  // int16 sums
  uint32_t flip, valid;
};

// 16 int32 -> 16 int16 (saturating), as two int16x8.
STTN_ALWAYS_INLINE void Saturate16(const int32_t* v, int16x8_t* out) {
  out[0] = vcombine_s16(vqmovn_s32(vld1q_s32(v)), vqmovn_s32(vld1q_s32(v + 4)));
  out[1] =
      vcombine_s16(vqmovn_s32(vld1q_s32(v + 8)), vqmovn_s32(vld1q_s32(v + 12)));
}

// 16 int32 -> 16 int8 (saturating).
STTN_ALWAYS_INLINE int8x16_t Saturate8(const int32_t* v) {
  int16x8_t h[2];
  Saturate16(v, h);
  return vcombine_s8(vqmovn_s16(h[0]), vqmovn_s16(h[1]));
}

// Two groups of 32 compare bytes (0 or 0xff; a[0] channels 0-15, a[1]
// 16-31) -> their 32-bit words: lane 0 from a, lane 1 from b.
STTN_ALWAYS_INLINE uint32x2_t Words(const uint8x16_t* a, const uint8x16_t* b) {
  const uint8x16_t bit = {1, 2, 4, 8, 16, 32, 64, 128,
                          1, 2, 4, 8, 16, 32, 64, 128};
  const uint8x16_t ra = vpaddq_u8(vandq_u8(a[0], bit), vandq_u8(a[1], bit));
  const uint8x16_t rb = vpaddq_u8(vandq_u8(b[0], bit), vandq_u8(b[1], bit));
  // Bytes 0-3: a's channels 0-7, 8-15, 16-23, 24-31; bytes 4-7: b's.
  const uint8x16_t r = vpaddq_u8(vpaddq_u8(ra, rb), vdupq_n_u8(0));
  return vget_low_u32(vreinterpretq_u32_u8(r));
}

STTN_ALWAYS_INLINE void StoreWords(const Thresholds& q, const uint8x16_t* U,
                                   const uint8x16_t* L, uint8_t* dst) {
  // U = !(acc >= upper), L = !(acc <= lower): nonzero iff U != L, negative
  // iff also L == flip (ternary_gemm.h).
  const uint32x2_t w = Words(U, L);
  const uint32_t u = vget_lane_u32(w, 0);
  const uint32_t l = vget_lane_u32(w, 1);
  const uint32_t mask = (u ^ l) & q.valid;
  const uint32_t sign = mask & ~(l ^ q.flip);
  std::memcpy(dst, &mask, 4);
  std::memcpy(dst + 4, &sign, 4);
}

STTN_ALWAYS_INLINE void StoreFloat4(int32x4_t acc, const float* sc,
                                    const float* bi, bool relu, int left,
                                    float* dst) {
  // scale * acc + bias, rounded twice like the reference's Epilogue.
  float32x4_t y =
      vaddq_f32(vmulq_f32(vcvtq_f32_s32(acc), vld1q_f32(sc)), vld1q_f32(bi));
  if (relu) {
    // !(y > 0) -> 0, as the reference (NaN and -0 become +0).
    const float32x4_t zero = vdupq_n_f32(0.0f);
    y = vbslq_f32(vcgtq_f32(y, zero), y, zero);
  }
  if (left >= 4) {
    vst1q_f32(dst, y);
  } else if (left > 0) {
    float tmp[4];
    vst1q_f32(tmp, y);
    StoreLanes(tmp, 4, left, dst);
  }
}

struct Call {
  const MicroKernelArgs* a;
  const Thresholds* th;  // packed output, per group of the call
};

// The int8 sums of G groups widened into their int16 sums (acc16[4 i + k]:
// channels 8k..8k+7 of group i); the int8 sums restart.
template <int G>
STTN_ALWAYS_INLINE void Widen(int8x16_t* acc8, int16x8_t* acc16) {
  STTN_UNROLL
  for (int i = 0; i < 2 * G; ++i) {
    acc16[2 * i] = vaddw_s8(acc16[2 * i], vget_low_s8(acc8[i]));
    acc16[2 * i + 1] = vaddw_high_s8(acc16[2 * i + 1], acc8[i]);
    acc8[i] = vdupq_n_s8(0);
  }
}

template <int G>
STTN_ALWAYS_INLINE void AddRow(const int8_t* row, int8x16_t* acc8) {
  STTN_UNROLL
  for (int i = 0; i < 2 * G; ++i) {
    acc8[i] = vaddq_s8(acc8[i], vld1q_s8(row + 16 * i));
  }
}

// The epilogue of groups [g0, g0 + G) of one pixel.
template <int G, bool kInt16>
STTN_ALWAYS_INLINE void Store(const Call& c, const int8x16_t* acc8,
                              const int16x8_t* acc16, int g0, int pixel) {
  const MicroKernelArgs& a = *c.a;
  if (a.packed != nullptr) {
    uint8_t* dst = a.packed + pixel * a.packed_stride +
                   static_cast<int64_t>(a.first_group + g0) * 8;
    STTN_UNROLL
    for (int i = 0; i < G; ++i) {
      const Thresholds& t = c.th[g0 + i];
      uint8x16_t U[2], L[2];
      if constexpr (kInt16) {
        const int16x8_t* s = acc16 + 4 * i;
        STTN_UNROLL
        for (int h = 0; h < 2; ++h) {
          U[h] = vuzp1q_u8(
              vreinterpretq_u8_u16(vcgtq_s16(t.upper16[2 * h], s[2 * h])),
              vreinterpretq_u8_u16(
                  vcgtq_s16(t.upper16[2 * h + 1], s[2 * h + 1])));
          L[h] = vuzp1q_u8(
              vreinterpretq_u8_u16(vcgtq_s16(s[2 * h], t.lower16[2 * h])),
              vreinterpretq_u8_u16(
                  vcgtq_s16(s[2 * h + 1], t.lower16[2 * h + 1])));
        }
      } else {
        STTN_UNROLL
        for (int h = 0; h < 2; ++h) {
          U[h] = vcgtq_s8(t.upper8[h], acc8[2 * i + h]);
          L[h] = vcgtq_s8(acc8[2 * i + h], t.lower8[h]);
        }
      }
      StoreWords(t, U, L, dst + 8 * i);
    }
    return;
  }
  const bool relu = a.act == Activation::kRelu;
  float* dst = a.out + pixel * a.out_stride;
  STTN_UNROLL
  for (int i = 0; i < G; ++i) {
    const int lane0 = (g0 + i) * kTableLanes;
    int16x8_t s16[4];
    if constexpr (kInt16) {
      STTN_UNROLL
      for (int k = 0; k < 4; ++k) s16[k] = acc16[4 * i + k];
    } else {
      STTN_UNROLL
      for (int h = 0; h < 2; ++h) {
        s16[2 * h] = vmovl_s8(vget_low_s8(acc8[2 * i + h]));
        s16[2 * h + 1] = vmovl_high_s8(acc8[2 * i + h]);
      }
    }
    STTN_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int lane = lane0 + 8 * k;
      StoreFloat4(vmovl_s16(vget_low_s16(s16[k])), a.scale + lane,
                  a.bias + lane, relu, a.channels - lane, dst + lane);
      StoreFloat4(vmovl_high_s16(s16[k]), a.scale + lane + 4, a.bias + lane + 4,
                  relu, a.channels - lane - 4, dst + lane + 4);
    }
  }
}

// All G groups of the call at once: each slice's row is added as soon as it
// is found.
template <int kTrits, int G, bool kInt16>
void AllGroups(const Call& c) {
  const MicroKernelArgs& a = *c.a;
  for (int p = 0; p < a.pixels; ++p) {
    int8x16_t acc8[2 * G];
    int16x8_t acc16[kInt16 ? 4 * G : 1];
    STTN_UNROLL
    for (int i = 0; i < 2 * G; ++i) acc8[i] = vdupq_n_s8(0);
    if constexpr (kInt16) {
      STTN_UNROLL
      for (int i = 0; i < 4 * G; ++i) acc16[i] = vdupq_n_s16(0);
    }
    int pending = 0;
    SliceBlocks<kTrits> blocks(a, p);
    while (blocks.Next()) {
      if (blocks.n == SliceBlocks<kTrits>::kPerBlock) {
        STTN_UNROLL
        for (int j = 0; j < SliceBlocks<kTrits>::kPerBlock; ++j)
          AddRow<G>(blocks.Row(j), acc8);
      } else {
        for (int j = 0; j < blocks.n; ++j) AddRow<G>(blocks.Row(j), acc8);
      }
      if constexpr (kInt16) {
        // Widened before the next block could take the sums past the int8
        // bound.
        pending += blocks.n;
        if (pending >
            TableInt8Slices(kTrits) - SliceBlocks<kTrits>::kPerBlock) {
          Widen<G>(acc8, acc16);
          pending = 0;
        }
      }
    }
    if constexpr (kInt16) {
      if (pending > 0) Widen<G>(acc8, acc16);
    }
    Store<G, kInt16>(c, acc8, acc16, 0, p);
  }
}

// Groups [g0, g0 + G) of one pixel whose slices' rows are `rows`.
template <int kTrits, int G, bool kInt16>
STTN_ALWAYS_INLINE void SomeGroups(const Call& c, const int8_t* const* rows,
                                   int64_t slices, int g0, int p) {
  int8x16_t acc8[2 * G];
  int16x8_t acc16[kInt16 ? 4 * G : 1];
  STTN_UNROLL
  for (int i = 0; i < 2 * G; ++i) acc8[i] = vdupq_n_s8(0);
  if constexpr (kInt16) {
    STTN_UNROLL
    for (int i = 0; i < 4 * G; ++i) acc16[i] = vdupq_n_s16(0);
  }
  const int64_t column = static_cast<int64_t>(g0) * kTableLanes;
  int64_t q = 0;
  constexpr int kLimit = TableInt8Slices(kTrits);
  while (q < slices) {
    const int64_t end = kInt16 && slices - q > kLimit ? q + kLimit : slices;
    for (; q < end; ++q) AddRow<G>(rows[q] + column, acc8);
    if constexpr (kInt16) Widen<G>(acc8, acc16);
  }
  Store<G, kInt16>(c, acc8, acc16, g0, p);
}

// The last groups of a pixel, fewer than a run: SomeGroups for G = their
// number (a compile-time count, chosen by recursion from G down to 1).
template <int kTrits, bool kInt16, int G>
STTN_ALWAYS_INLINE void Rest(const Call& c, const int8_t* const* rows,
                             int64_t slices, int g0, int p) {
  if constexpr (G > 1) {
    if (c.a->groups - g0 < G) {
      Rest<kTrits, kInt16, G - 1>(c, rows, slices, g0, p);
      return;
    }
  }
  SomeGroups<kTrits, G, kInt16>(c, rows, slices, g0, p);
}

// More groups than registers: each pixel's rows found once, then the
// groups in runs of kStep.
template <int kTrits, bool kInt16>
void ManyGroups(const Call& c) {
  const MicroKernelArgs& a = *c.a;
  const int64_t slices = static_cast<int64_t>(a.taps) * a.slices;
  constexpr int kStep = kInt16 ? kInt16Groups : kInt8Groups;
  const int8_t* rows[kTableMaxSlices];
  for (int p = 0; p < a.pixels; ++p) {
    SliceBlocks<kTrits> blocks(a, p);
    int k = 0;
    while (blocks.Next()) {
      for (int j = 0; j < blocks.n; ++j) rows[k++] = blocks.Row(j);
    }
    int g = 0;
    for (; g + kStep <= a.groups; g += kStep) {
      SomeGroups<kTrits, kStep, kInt16>(c, rows, slices, g, p);
    }
    if (g < a.groups) Rest<kTrits, kInt16, kStep - 1>(c, rows, slices, g, p);
  }
}

// All of a call's groups at once (AllGroups) when they fit the registers
// (kInt8Groups, or kInt16Groups with int16 sums): G found by recursion.
template <int kTrits, bool kInt16, int G = kInt16 ? kInt16Groups : kInt8Groups>
void Run(const Call& c) {
  if constexpr (G > 0) {
    if (c.a->groups == G) {
      AllGroups<kTrits, G, kInt16>(c);
      return;
    }
    Run<kTrits, kInt16, G - 1>(c);
  } else {
    ManyGroups<kTrits, kInt16>(c);
  }
}

void TableKernel(const MicroKernelArgs& a) {
  const int64_t slices = static_cast<int64_t>(a.taps) * a.slices;
  const bool int16 = slices > TableInt8Slices(a.trits);
  Thresholds th[kTableMaxGroups];
  Call c{&a, th};
  if (a.packed != nullptr) {
    for (int g = 0; g < a.groups; ++g) {
      Thresholds& t = th[g];
      const int32_t* up = a.upper + g * kTableLanes;
      const int32_t* lo = a.lower + g * kTableLanes;
      const int32_t* fl = a.flip + g * kTableLanes;
      if (int16) {
        Saturate16(up, t.upper16);
        Saturate16(up + 16, t.upper16 + 2);
        Saturate16(lo, t.lower16);
        Saturate16(lo + 16, t.lower16 + 2);
      } else {
        t.upper8[0] = Saturate8(up);
        t.upper8[1] = Saturate8(up + 16);
        t.lower8[0] = Saturate8(lo);
        t.lower8[1] = Saturate8(lo + 16);
      }
      uint32_t flip = 0;
      for (int l = 0; l < kTableLanes; ++l) {
        flip |= static_cast<uint32_t>(fl[l] != 0) << l;
      }
      t.flip = flip;
      const int left = a.channels - g * kTableLanes;
      t.valid = left >= 32 ? 0xffffffffu : (1u << left) - 1u;
    }
  }
  if (a.trits == 4) {
    if (int16) {
      Run<4, true>(c);
    } else {
      Run<4, false>(c);
    }
  } else {
    if (int16) {
      Run<2, true>(c);
    } else {
      Run<2, false>(c);
    }
  }
}

}  // namespace

MicroKernels NeonTableKernels() {
  return MicroKernels{kTableLanes, 1, TableKernel, TableKernel, kMaxPixels};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
