// AVX-512 micro-kernels (F, BW, VL, VPOPCNTDQ): lanes 16, tile 8.
//
// Per 32-channel chunk and pixel: m = w_m & bcast(x_m) (vpandd with an
// embedded broadcast), neg = m & (w_s ^ bcast(x_s)) (one vpternlogd),
// two vpopcntd and two vpaddd: 6 vector instructions for 16 x 32 = 512
// trit multiply-accumulates. 16 accumulators + 2 weight vectors fit the 32
// zmm registers.
#include "export/core/ternary_gemm_internal.h"

namespace sttn {
namespace core {
namespace internal {

#if STTN_X86
namespace {

constexpr int kLanes = 16;
constexpr int kTile = 8;
// vpternlogd truth table of a & (b ^ c) (a = 0xf0, b = 0xcc, c = 0xaa).
constexpr int kAndXor = 0x60;

#define STTN_AVX512 \
  __attribute__((   \
      target("avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx2,popcnt")))

// The lanes of this channel group that hold an existing channel.
STTN_AVX512 STTN_ALWAYS_INLINE __mmask16
ExistingLanes(const MicroKernelArgs& a) {
  const int channels = a.channels < kLanes ? a.channels : kLanes;
  return static_cast<__mmask16>((1u << channels) - 1u);
}

// The dot products from the popcount sums: acc_m - 2 acc_n.
STTN_AVX512 STTN_ALWAYS_INLINE __m512i Dot(__m512i acc_m, __m512i acc_n) {
  return _mm512_sub_epi32(acc_m, _mm512_add_epi32(acc_n, acc_n));
}

template <int P>
STTN_AVX512 STTN_ALWAYS_INLINE void Micro(const MicroKernelArgs& a) {
  __m512i acc_m[P];
  __m512i acc_n[P];
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    acc_m[p] = _mm512_setzero_si512();
    acc_n[p] = _mm512_setzero_si512();
  }
  const uint32_t* w = a.w;
  for (int t = 0; t < a.taps; ++t) {
    const TapRows<P> x(a, t);
    for (int b = 0; b < a.blocks; ++b, w += 2 * kLanes) {
      STTN_MCA_BEGIN(P == kTile, "avx512");
      const __m512i wm = _mm512_loadu_si512(w);
      const __m512i ws = _mm512_loadu_si512(w + kLanes);
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        const __m512i m = _mm512_and_si512(
            wm, _mm512_set1_epi32(static_cast<int>(x[p][2 * b])));
        const __m512i neg = _mm512_ternarylogic_epi32(
            m, ws, _mm512_set1_epi32(static_cast<int>(x[p][2 * b + 1])),
            kAndXor);
        acc_m[p] = _mm512_add_epi32(acc_m[p], _mm512_popcnt_epi32(m));
        acc_n[p] = _mm512_add_epi32(acc_n[p], _mm512_popcnt_epi32(neg));
      }
      STTN_MCA_END(P == kTile);
    }
  }
  if (a.packed != nullptr) {
    const __m512i upper = _mm512_loadu_si512(a.upper);
    const __m512i lower = _mm512_loadu_si512(a.lower);
    const __mmask16 flip = _mm512_cmplt_epi32_mask(_mm512_loadu_si512(a.flip),
                                                   _mm512_setzero_si512());
    const __mmask16 valid = ExistingLanes(a);
    STTN_UNROLL
    for (int p = 0; p < P; ++p) {
      if (p >= a.pixels) break;
      const __m512i acc = Dot(acc_m[p], acc_n[p]);
      const __mmask16 ge = _mm512_cmpge_epi32_mask(acc, upper);
      const __mmask16 le = _mm512_cmple_epi32_mask(acc, lower);
      const uint16_t mask = static_cast<uint16_t>((ge ^ le) & valid);
      const uint16_t sign = static_cast<uint16_t>(mask & (le ^ flip));
      uint8_t* dst = a.packed + p * a.packed_stride;
      std::memcpy(dst, &mask, 2);
      std::memcpy(dst + 4, &sign, 2);
    }
    return;
  }
  const __m512 scale = _mm512_loadu_ps(a.scale);
  const __m512 bias = _mm512_loadu_ps(a.bias);
  const __m512 zero = _mm512_setzero_ps();
  const __mmask16 store = ExistingLanes(a);
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    if (p >= a.pixels) break;
    const __m512i acc = Dot(acc_m[p], acc_n[p]);
    // scale * acc + bias, rounded twice like the reference's Epilogue.
    __m512 y =
        _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), scale), bias);
    if (a.act == Activation::kRelu) y = _mm512_max_ps(y, zero);
    _mm512_mask_storeu_ps(a.out + p * a.out_stride, store, y);
  }
}

STTN_AVX512 void Full1(const MicroKernelArgs& a) { Micro<kTile>(a); }
STTN_AVX512 void Single1(const MicroKernelArgs& a) { Micro<1>(a); }
void Full(const MicroKernelArgs& a) { ForEachGroup<kLanes>(a, Full1); }
void Single(const MicroKernelArgs& a) { ForEachGroup<kLanes>(a, Single1); }

}  // namespace

MicroKernels Avx512MicroKernels() {
  return MicroKernels{kLanes, kTile, Full, Single};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
