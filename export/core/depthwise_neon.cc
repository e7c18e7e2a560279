// Ternary-input depthwise, NEON path (aarch64 Advanced SIMD): 32 channels in
// two int8x16 registers; per tap one ld1 of 32 decoded input lanes and two
// `mla` (w * x + acc on int8 lanes: for trits the product is exact and
// |acc| <= kh * kw <= 127, so int8 accumulators cannot overflow; the driver
// takes the portable path for larger kernels).
//
// Packed outputs: `cmgt` of the int8 accumulators against the int8
// thresholds, then a movemask built from an AND with per-byte bit weights
// and four pairwise adds (addp), giving both 32-channel comparison words in
// one 64-bit lane. Float outputs widen to int32 (sxtl), convert, and apply
// scale * acc + bias with a separate multiply and add (the reference's two
// roundings) and ReLU as compare-and-mask (NaN and -0 become +0, as the
// reference's `!(y > 0) ? 0 : y`).
//
// Decoding one (mask, sign) block: ld1r of the word pair, `tbl` spreads
// byte j / 8 of a word to lane j, `cmtst` against the bit weights gives the
// lane's bit as 0 / -1, then t = m & (s ? -1 : 1).
#include <cstdint>
#include <cstring>

#include "export/core/depthwise_internal.h"

#if defined(__aarch64__)
#include <arm_neon.h>
#endif

namespace sttn {
namespace core {
namespace depthwise {

#if defined(__aarch64__)
namespace {

// Lane j: bit j % 8.
STTN_ALWAYS_INLINE uint8x16_t BitWeights() {
  const uint8_t k[16] = {1, 2, 4, 8, 16, 32, 64, 128,
                         1, 2, 4, 8, 16, 32, 64, 128};
  return vld1q_u8(k);
}

STTN_ALWAYS_INLINE void DecodeBlock(const uint32_t* pair, int8_t* d) {
  // Table: bytes 0-3 the mask word, 4-7 the sign word (twice).
  const uint8x16_t words = vreinterpretq_u8_u64(
      vld1q_dup_u64(reinterpret_cast<const uint64_t*>(pair)));
  const uint8_t idx[4][16] = {{0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1},
                              {2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3},
                              {4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5},
                              {6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7}};
  const uint8x16_t bits = BitWeights();
  const uint8x16_t one = vdupq_n_u8(1);
  const uint8x16_t all = vdupq_n_u8(0xff);
  uint8x16x2_t t;
  for (int h = 0; h < 2; ++h) {
    const uint8x16_t m = vtstq_u8(vqtbl1q_u8(words, vld1q_u8(idx[h])), bits);
    const uint8x16_t s =
        vtstq_u8(vqtbl1q_u8(words, vld1q_u8(idx[2 + h])), bits);
    t.val[h] = vandq_u8(m, vbslq_u8(s, all, one));
  }
  vst1q_u8_x2(reinterpret_cast<uint8_t*>(d), t);
}

void DecodeRowNeon(const ConvShape& s, int cp, int64_t wp,
                   const uint32_t* x_row, int8_t* dst) {
  if (s.depth_multiplier != 1) {
    DecodeRow(s, cp, wp, x_row, dst, DecodeBlockScalar);
    return;
  }
  const int width = PackedWidth(s.in_c);
  const int blocks = NumBlocks(s.in_c);
  const int64_t cols = wp - s.pad_left < s.in_w ? wp - s.pad_left : s.in_w;
  for (int64_t ix = 0; ix < cols; ++ix) {
    const uint32_t* px = x_row + ix * width;
    int8_t* d = dst + (ix + s.pad_left) * cp;
    for (int b = 0; b < blocks; ++b) DecodeBlock(px + 2 * b, d + 32 * b);
  }
}

// scale * acc + bias of 4 lanes, then ReLU.
STTN_ALWAYS_INLINE float32x4_t Affine4(int32x4_t acc, const float* sp,
                                       const float* bp, bool relu) {
  float32x4_t y =
      vaddq_f32(vmulq_f32(vld1q_f32(sp), vcvtq_f32_s32(acc)), vld1q_f32(bp));
  if (relu) {
    y = vreinterpretq_f32_u32(
        vandq_u32(vreinterpretq_u32_f32(y), vcgtq_f32(y, vdupq_n_f32(0.0f))));
  }
  return y;
}

// Float epilogue of 32 int8 accumulators (channels c0 .. c0 + 31), the
// first `valid` stored.
STTN_ALWAYS_INLINE void Epilogue32(int8x16x2_t acc, const float* sp,
                                   const float* bp, bool relu, int valid,
                                   float* dst) {
  float y[32];
  for (int h = 0; h < 2; ++h) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(acc.val[h]));
    const int16x8_t hi = vmovl_high_s8(acc.val[h]);
    const int32x4_t q[4] = {vmovl_s16(vget_low_s16(lo)), vmovl_high_s16(lo),
                            vmovl_s16(vget_low_s16(hi)), vmovl_high_s16(hi)};
    for (int k = 0; k < 4; ++k) {
      const int c = 16 * h + 4 * k;
      const float32x4_t v = Affine4(q[k], sp + c, bp + c, relu);
      if (valid >= 32) {
        vst1q_f32(dst + c, v);
      } else {
        vst1q_f32(y + c, v);
      }
    }
  }
  if (valid < 32) std::memcpy(dst, y, sizeof(float) * valid);
}

// One output row; KH/KW > 0 fix the kernel size at compile time (the taps'
// weight vectors then stay in registers across the row), 0 = run time.
template <int KH, int KW>
void Row(const Job& j, const int8_t** rows, int n, int oy) {
  const ConvShape& s = *j.s;
  const int cp = j.pl.cp;
  const int kh = KH > 0 ? KH : s.kernel_h;
  const int kw = KW > 0 ? KW : s.kernel_w;
  const int8_t* wpad = j.Constant<int8_t>(j.pl.weights);
  const float* sp = j.Constant<float>(j.pl.scale);
  const float* bp = j.Constant<float>(j.pl.bias);
  const int8_t* up8 = j.Constant<int8_t>(j.pl.upper8);
  const int8_t* lo8 = j.Constant<int8_t>(j.pl.lower8);
  const uint32_t* flips = j.Constant<uint32_t>(j.pl.flip_bits);
  const bool relu = j.act == Activation::kRelu;
  const int64_t step = static_cast<int64_t>(s.stride_w) * cp;
  const int64_t pixel0 = (static_cast<int64_t>(n) * s.out_h + oy) * s.out_w;
  const int width_out = PackedWidth(s.out_c);
  // Locals, not reads through j and s: the stores below could alias them.
  const int out_w = s.out_w;
  const int out_c = s.out_c;
  uint32_t* const packed = reinterpret_cast<uint32_t*>(j.packed);
  float* const out = j.out;
  const uint8x16_t bits = BitWeights();
  for (int c0 = 0; c0 < cp; c0 += 32) {
    const int valid = out_c - c0;
    int8x16x2_t wv[KH > 0 ? KH * KW : 1];
    if (KH > 0) {
      for (int t = 0; t < KH * KW; ++t) wv[t] = vld1q_s8_x2(wpad + t * cp + c0);
    }
    const int8x16x2_t u8 = vld1q_s8_x2(up8 + c0);
    const int8x16x2_t l8 = vld1q_s8_x2(lo8 + c0);
    const uint32_t flip = flips[c0 / 32];
    const uint32_t valid_bits = valid >= 32 ? 0xffffffffu : (1u << valid) - 1u;
    // The taps' row pointers (fixed kernel sizes: advanced per pixel).
    const int8_t* xr[KH > 0 ? KH : 1];
    if (KH > 0) {
      for (int ky = 0; ky < KH; ++ky) xr[ky] = rows[ky] + c0;
    }
    uint32_t* pdst = packed != nullptr
                         ? packed + pixel0 * width_out + 2 * (c0 / 32)
                         : nullptr;
    float* fdst = out != nullptr ? out + pixel0 * out_c + c0 : nullptr;
    for (int ox = 0; ox < out_w; ++ox) {
      int8x16_t a0 = vdupq_n_s8(0), a1 = vdupq_n_s8(0);
      for (int ky = 0; ky < kh; ++ky) {
        const int8_t* x = KH > 0 ? xr[ky] : rows[ky] + ox * step + c0;
        for (int kx = 0; kx < kw; ++kx) {
          const int8x16x2_t xv = vld1q_s8_x2(x + kx * cp);
          const int8x16x2_t w =
              KH > 0 ? wv[ky * KW + kx]
                     : vld1q_s8_x2(
                           wpad + static_cast<int64_t>(ky * kw + kx) * cp + c0);
          a0 = vmlaq_s8(a0, xv.val[0], w.val[0]);
          a1 = vmlaq_s8(a1, xv.val[1], w.val[1]);
        }
      }
      if (pdst != nullptr) {
        // ge: acc > upper8; gt: acc > lower8, as bits via addp.
        const uint8x16_t g0 = vandq_u8(vcgtq_s8(a0, u8.val[0]), bits);
        const uint8x16_t g1 = vandq_u8(vcgtq_s8(a1, u8.val[1]), bits);
        const uint8x16_t l0 = vandq_u8(vcgtq_s8(a0, l8.val[0]), bits);
        const uint8x16_t l1 = vandq_u8(vcgtq_s8(a1, l8.val[1]), bits);
        const uint8x16_t quads =
            vpaddq_u8(vpaddq_u8(g0, g1), vpaddq_u8(l0, l1));
        const uint64_t words =
            vgetq_lane_u64(vreinterpretq_u64_u8(vpaddq_u8(quads, quads)), 0);
        const uint32_t ge = static_cast<uint32_t>(words);
        const uint32_t le = ~static_cast<uint32_t>(words >> 32);
        const uint32_t mask = (ge ^ le) & valid_bits;
        pdst[0] = mask;
        pdst[1] = mask & (le ^ flip);
        pdst += width_out;
      } else {
        Epilogue32({{a0, a1}}, sp + c0, bp + c0, relu, valid, fdst);
        fdst += out_c;
      }
      if (KH > 0) {
        for (int ky = 0; ky < KH; ++ky) xr[ky] += step;
      }
    }
  }
}

void Item(void* ctx, int64_t item, int worker) {
  const Job& j = *static_cast<const Job*>(ctx);
  const ConvShape& s = *j.s;
  auto decode = [&](const uint32_t* x_row, int8_t* dst) {
    DecodeRowNeon(s, j.pl.cp, j.tl.wp, x_row, dst);
  };
  auto row_fn = [&](const int8_t** r, uint8_t*, int n, int oy) {
    if (s.kernel_h == 3 && s.kernel_w == 3) {
      Row<3, 3>(j, r, n, oy);
    } else if (s.kernel_h == 5 && s.kernel_w == 5) {
      Row<5, 5>(j, r, n, oy);
    } else {
      Row<0, 0>(j, r, n, oy);
    }
  };
  RunBand(j, item, worker, decode, row_fn);
}

}  // namespace

ParallelFn NeonItem() { return Item; }
#else
ParallelFn NeonItem() { return nullptr; }
#endif  // __aarch64__

}  // namespace depthwise
}  // namespace core
}  // namespace sttn
