// NEON (aarch64 Advanced SIMD) micro-kernels: lanes 8 (two uint32x4), tile 4.
//
// Per 32-channel chunk, pixel and 4 lanes: m = w_m & dup(x_m),
// neg = m & (w_s ^ dup(x_s)), cnt of both (per-byte popcounts) added into
// uint8 partial sums (at most 8 per byte and chunk, flushed every 31 chunks
// with pairwise widening adds, uaddlp): 7 instructions per 128 trit
// multiply-accumulates, against 8 for int8 SDOT's 128.
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
constexpr int kFlushChunks = 31;  // 31 * 8 <= 255: uint8 sums cannot wrap

STTN_ALWAYS_INLINE uint32x4_t Widen(uint8x16_t v) {
  return vpaddlq_u16(vpaddlq_u8(v));
}

template <int P>
STTN_ALWAYS_INLINE void Flush(int32x4_t (*acc32)[2], uint8x16_t (*acc_m)[2],
                              uint8x16_t (*acc_n)[2]) {
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    for (int h = 0; h < 2; ++h) {
      const int32x4_t m = vreinterpretq_s32_u32(Widen(acc_m[p][h]));
      const int32x4_t n = vreinterpretq_s32_u32(Widen(acc_n[p][h]));
      acc32[p][h] = vaddq_s32(acc32[p][h], vsubq_s32(m, vshlq_n_s32(n, 1)));
      acc_m[p][h] = vdupq_n_u8(0);
      acc_n[p][h] = vdupq_n_u8(0);
    }
  }
}

template <int P>
STTN_ALWAYS_INLINE void Micro(const MicroKernelArgs& a) {
  int32x4_t acc32[P][2];
  uint8x16_t acc_m[P][2];
  uint8x16_t acc_n[P][2];
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    for (int h = 0; h < 2; ++h) {
      acc32[p][h] = vdupq_n_s32(0);
      acc_m[p][h] = vdupq_n_u8(0);
      acc_n[p][h] = vdupq_n_u8(0);
    }
  }
  int pending = 0;
  const uint32_t* w = a.w;
  for (int t = 0; t < a.taps; ++t) {
    const TapRows<P> x(a, t);
    for (int b = 0; b < a.blocks; ++b, w += 2 * kLanes) {
      STTN_MCA_BEGIN(P == kTile, "neon");
      const uint32x4_t wm[2] = {vld1q_u32(w), vld1q_u32(w + 4)};
      const uint32x4_t ws[2] = {vld1q_u32(w + kLanes),
                                vld1q_u32(w + kLanes + 4)};
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        // One ld2r: the (mask, sign) pair broadcast into two registers in the
        // load pipe, no dup on the vector pipes.
        const uint32x4x2_t xv = vld2q_dup_u32(x[p] + 2 * b);
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
        Flush<P>(acc32, acc_m, acc_n);
        pending = 0;
      }
    }
  }
  if (pending) Flush<P>(acc32, acc_m, acc_n);
  if (a.packed != nullptr) {
    const uint32x4_t weights = {1u, 2u, 4u, 8u};
    const int32x4_t upper[2] = {vld1q_s32(a.upper), vld1q_s32(a.upper + 4)};
    const int32x4_t lower[2] = {vld1q_s32(a.lower), vld1q_s32(a.lower + 4)};
    unsigned flip = 0;
    for (int h = 0; h < 2; ++h) {
      const uint32x4_t f = vreinterpretq_u32_s32(vld1q_s32(a.flip + 4 * h));
      flip |= vaddvq_u32(vandq_u32(f, weights)) << (4 * h);
    }
    const int valid_lanes = a.channels < kLanes ? a.channels : kLanes;
    const unsigned valid = (1u << valid_lanes) - 1u;
    STTN_UNROLL
    for (int p = 0; p < P; ++p) {
      if (p >= a.pixels) break;
      unsigned ge = 0, le = 0;
      for (int h = 0; h < 2; ++h) {
        ge |= vaddvq_u32(vandq_u32(vcgeq_s32(acc32[p][h], upper[h]), weights))
              << (4 * h);
        le |= vaddvq_u32(vandq_u32(vcleq_s32(acc32[p][h], lower[h]), weights))
              << (4 * h);
      }
      const unsigned mask = (ge ^ le) & valid;
      uint8_t* dst = a.packed + p * a.packed_stride;
      dst[0] = static_cast<uint8_t>(mask);
      dst[4] = static_cast<uint8_t>(mask & (le ^ flip));
    }
    return;
  }
  const float32x4_t scale[2] = {vld1q_f32(a.scale), vld1q_f32(a.scale + 4)};
  const float32x4_t bias[2] = {vld1q_f32(a.bias), vld1q_f32(a.bias + 4)};
  const float32x4_t zero = vdupq_n_f32(0.0f);
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    if (p >= a.pixels) break;
    float y[kLanes];
    for (int h = 0; h < 2; ++h) {
      // scale * acc + bias, rounded twice like the reference's Epilogue.
      float32x4_t v =
          vaddq_f32(vmulq_f32(vcvtq_f32_s32(acc32[p][h]), scale[h]), bias[h]);
      if (a.act == Activation::kRelu) {
        // !(v > 0) -> 0, as the reference (NaN and -0 become +0).
        v = vbslq_f32(vcgtq_f32(v, zero), v, zero);
      }
      vst1q_f32(y + 4 * h, v);
    }
    StoreLanes(y, kLanes, a.channels, a.out + p * a.out_stride);
  }
}

void Full(const MicroKernelArgs& a) { ForEachGroup<kLanes>(a, Micro<kTile>); }
void Single(const MicroKernelArgs& a) { ForEachGroup<kLanes>(a, Micro<1>); }

}  // namespace

MicroKernels NeonMicroKernels() {
  return MicroKernels{kLanes, kTile, Full, Single};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
