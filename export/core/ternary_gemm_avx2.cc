// AVX2 micro-kernels: lanes 8, tile 4; one call runs a tile of pixels over a
// run of weight groups (MicroKernelArgs::groups), so the tables, the pixel
// rows and the call itself are paid once per tile, not once per 8 channels.
//
// AVX2 has no vector popcount. Per 32-channel chunk and pixel the kernel
// forms m = w_m & x_m and neg = m & (w_s ^ x_s) and looks up both nibbles of
// every byte in a +count table (m) and a -2 x count table (neg) with vpshufb:
// popcount(m) - 2 popcount(neg) is the dot product, and each byte's sum lies
// in [-8, 8] (neg is a subset of m). The sums accumulate in int8 lanes for
// up to 15 chunks, then vpmaddubsw and vpmaddwd widen them into the int32
// lane of each output channel. A layer of at most 15 chunks (480 input
// channels of a 1x1 conv) widens once, at the end, with no int32 running sum.
//
// Packed output: the threshold compares of the 4 pixels are narrowed with
// two pack steps and one lane permute into one byte per pixel and lane
// group, so the 4 pixels' mask and sign bytes come out of two movemasks.
#include "export/core/ternary_gemm_internal.h"

namespace sttn {
namespace core {
namespace internal {

#if STTN_X86
namespace {

constexpr int kLanes = 8;
constexpr int kTile = 4;
// Pixels one call takes (the driver's tile on this path).
constexpr int kMaxPixels = 16;
constexpr int kFlushChunks = 15;  // 15 * 8 <= 127: int8 sums cannot wrap

#define STTN_AVX2 __attribute__((target("avx2,popcnt")))

// The int8 partial sums of one pixel widened to int32 per lane.
STTN_AVX2 STTN_ALWAYS_INLINE __m256i Widen(__m256i acc8) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), acc8),
                           _mm256_set1_epi16(1));
}

// Packed output: lane l of a pixel is nonzero iff (acc >= upper) !=
// (acc <= lower), negative iff also (acc <= lower) != flip. With U =
// !(acc >= upper) = (upper > acc) and L = !(acc <= lower) = (acc > lower):
// mask = U ^ L, sign = mask & ~(L ^ flip). `valid` and `flip` are the
// group's lane bits repeated in each byte (one byte per pixel).
//
// Four pixels compare as int16 (|acc| <= K <= kMaxInt16K): two pixels' 8
// lanes per register, [p l0-3, q l0-3 | p l4-7, q l4-7], the layout of both
// vpackssdw (int32 sums) and vphaddw (int8 sums); the thresholds saturate
// to int16 in the same layout, which keeps every compare's outcome (a
// saturated bound lies beyond +-K). One more pack and a lane permute give
// a byte per pixel.
constexpr int kMaxInt16K = 32766;

struct PackedGroup {
  __m256i upper, lower;    // int32, one pixel
  __m256i upper2, lower2;  // int16, two pixels
  uint32_t flip, valid;
  int64_t stride;
};

STTN_AVX2 STTN_ALWAYS_INLINE void StorePacked4(const PackedGroup& q,
                                               __m256i a01, __m256i a23,
                                               uint8_t* dst) {
  const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  const __m256i uu = _mm256_permutevar8x32_epi32(
      _mm256_packs_epi16(_mm256_cmpgt_epi16(q.upper2, a01),
                         _mm256_cmpgt_epi16(q.upper2, a23)),
      order);
  const __m256i ll = _mm256_permutevar8x32_epi32(
      _mm256_packs_epi16(_mm256_cmpgt_epi16(a01, q.lower2),
                         _mm256_cmpgt_epi16(a23, q.lower2)),
      order);
  const uint32_t U = static_cast<uint32_t>(_mm256_movemask_epi8(uu));
  const uint32_t L = static_cast<uint32_t>(_mm256_movemask_epi8(ll));
  const uint32_t mask = (U ^ L) & q.valid;
  const uint32_t sign = mask & ~(L ^ q.flip);
  const int64_t stride = q.stride;
  STTN_UNROLL
  for (int p = 0; p < 4; ++p) {
    dst[p * stride] = static_cast<uint8_t>(mask >> (8 * p));
    dst[p * stride + 4] = static_cast<uint8_t>(sign >> (8 * p));
  }
}

STTN_AVX2 STTN_ALWAYS_INLINE void StorePacked1(const PackedGroup& q,
                                               __m256i acc, uint8_t* dst) {
  const uint32_t U = static_cast<uint32_t>(_mm256_movemask_ps(
      _mm256_castsi256_ps(_mm256_cmpgt_epi32(q.upper, acc))));
  const uint32_t L = static_cast<uint32_t>(_mm256_movemask_ps(
      _mm256_castsi256_ps(_mm256_cmpgt_epi32(acc, q.lower))));
  const uint32_t mask = (U ^ L) & q.valid;
  dst[0] = static_cast<uint8_t>(mask);
  dst[4] = static_cast<uint8_t>(mask & ~(L ^ q.flip));
}

struct FloatGroup {
  __m256 scale, bias;
  int left;  // lanes to store, 8 but in the last group
  bool relu;
  int64_t stride;
};

STTN_AVX2 STTN_ALWAYS_INLINE void StoreFloat(const FloatGroup& q, __m256i acc,
                                             float* dst) {
  // scale * acc + bias, rounded twice like the reference's Epilogue.
  __m256 y =
      _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc), q.scale), q.bias);
  if (q.relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
  if (q.left >= kLanes) {
    _mm256_storeu_ps(dst, y);
  } else {
    alignas(32) float tmp[kLanes];
    _mm256_store_ps(tmp, y);
    StoreLanes(tmp, kLanes, q.left, dst);
  }
}

// One group's dot products of P pixels (rows x[p * taps + t]). kShort: at
// most kFlushChunks chunks in all; the int8 sums are left in acc8 (each
// lane's four bytes add up to its dot product). Otherwise the int32 sums
// are in acc32.
template <int P, bool kShort, bool kOneTap>
STTN_AVX2 STTN_ALWAYS_INLINE void Dot(const uint32_t* const* x, int taps,
                                      int blocks, const uint32_t* w,
                                      __m256i* acc8, __m256i* acc32) {
  const __m256i lut_m =
      _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,  //
                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i lut_n = _mm256_setr_epi8(
      0, -2, -2, -4, -2, -4, -4, -6, -2, -4, -4, -6, -4, -6, -6, -8,  //
      0, -2, -2, -4, -2, -4, -4, -6, -2, -4, -4, -6, -4, -6, -6, -8);
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  STTN_UNROLL
  for (int p = 0; p < P; ++p) {
    acc8[p] = _mm256_setzero_si256();
    if constexpr (!kShort) acc32[p] = _mm256_setzero_si256();
  }
  int pending = 0;
  if constexpr (kOneTap) taps = 1;
  for (int t = 0; t < taps; ++t) {
    const uint32_t* row[P];
    STTN_UNROLL
    for (int p = 0; p < P; ++p) row[p] = x[p * taps + t];
    for (int b = 0; b < blocks; ++b, w += 2 * kLanes) {
      STTN_MCA_BEGIN(P == kTile, "avx2");
      const __m256i wm =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w));
      const __m256i ws =
          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + kLanes));
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        const __m256i m = _mm256_and_si256(
            wm, _mm256_set1_epi32(static_cast<int>(row[p][2 * b])));
        const __m256i neg = _mm256_and_si256(
            m, _mm256_xor_si256(
                   ws, _mm256_set1_epi32(static_cast<int>(row[p][2 * b + 1]))));
        const __m256i c = _mm256_add_epi8(
            _mm256_add_epi8(
                _mm256_shuffle_epi8(lut_m, _mm256_and_si256(m, low4)),
                _mm256_shuffle_epi8(
                    lut_m, _mm256_and_si256(_mm256_srli_epi16(m, 4), low4))),
            _mm256_add_epi8(
                _mm256_shuffle_epi8(lut_n, _mm256_and_si256(neg, low4)),
                _mm256_shuffle_epi8(
                    lut_n, _mm256_and_si256(_mm256_srli_epi16(neg, 4), low4))));
        acc8[p] = _mm256_add_epi8(acc8[p], c);
      }
      STTN_MCA_END(P == kTile);
      if constexpr (!kShort) {
        if (++pending == kFlushChunks) {
          STTN_UNROLL
          for (int p = 0; p < P; ++p) {
            acc32[p] = _mm256_add_epi32(acc32[p], Widen(acc8[p]));
            acc8[p] = _mm256_setzero_si256();
          }
          pending = 0;
        }
      }
    }
  }
  if constexpr (!kShort) {
    if (pending) {
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        acc32[p] = _mm256_add_epi32(acc32[p], Widen(acc8[p]));
      }
    }
  }
}

// Two pixels' int16 sums, [p l0-3, q l0-3 | p l4-7, q l4-7].
template <bool kShort>
STTN_AVX2 STTN_ALWAYS_INLINE __m256i Pair16(const __m256i* acc8,
                                            const __m256i* acc32, int p) {
  if constexpr (kShort) {
    const __m256i ones8 = _mm256_set1_epi8(1);
    return _mm256_hadd_epi16(_mm256_maddubs_epi16(ones8, acc8[p]),
                             _mm256_maddubs_epi16(ones8, acc8[p + 1]));
  } else {
    return _mm256_packs_epi32(acc32[p], acc32[p + 1]);
  }
}

template <bool kShort>
STTN_AVX2 STTN_ALWAYS_INLINE __m256i Sum32(const __m256i* acc8,
                                           const __m256i* acc32, int p) {
  if constexpr (kShort) {
    return Widen(acc8[p]);
  } else {
    return acc32[p];
  }
}

// The run of groups over up to kMaxPixels pixels: per group, the pixels in
// tiles of 4 (the group's weights, thresholds or affine loaded once), then
// one by one. kInt16: |acc| <= kMaxInt16K (packed output compares int16).
template <bool kShort, bool kOneTap, bool kInt16 = true>
STTN_AVX2 STTN_ALWAYS_INLINE void Kernel(const MicroKernelArgs& a) {
  const int taps = kOneTap ? 1 : a.taps;
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
      q.upper = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(upper + g * kLanes));
      q.lower = _mm256_loadu_si256(
          reinterpret_cast<const __m256i*>(lower + g * kLanes));
      q.upper2 = _mm256_packs_epi32(q.upper, q.upper);
      q.lower2 = _mm256_packs_epi32(q.lower, q.lower);
      q.flip = 0x01010101u *
               static_cast<uint32_t>(
                   _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_loadu_si256(
                       reinterpret_cast<const __m256i*>(flip + g * kLanes)))));
      const int left = channels - g * kLanes;
      q.valid = 0x01010101u * (left >= kLanes ? 0xffu : (1u << left) - 1u);
      // Group's byte: block group / 4 (two words), byte group % 4 of each.
      const int group = first_group + g;
      uint8_t* const dst = packed + (group / 4) * 8 + (group % 4);
      int p = 0;
      for (; p + kTile <= pixels; p += kTile) {
        __m256i acc8[kTile], acc32[kTile];
        Dot<kTile, kShort, kOneTap>(x + p * taps, taps, blocks, w, acc8, acc32);
        if constexpr (kInt16) {
          StorePacked4(q, Pair16<kShort>(acc8, acc32, 0),
                       Pair16<kShort>(acc8, acc32, 2), dst + p * q.stride);
        } else {
          STTN_UNROLL
          for (int i = 0; i < kTile; ++i) {
            StorePacked1(q, acc32[i], dst + (p + i) * q.stride);
          }
        }
      }
      for (; p < pixels; ++p) {
        __m256i acc8[1], acc32[1];
        Dot<1, kShort, kOneTap>(x + p * taps, taps, blocks, w, acc8, acc32);
        StorePacked1(q, Sum32<kShort>(acc8, acc32, 0), dst + p * q.stride);
      }
    }
    return;
  }
  FloatGroup q;
  q.stride = a.out_stride;
  q.relu = a.act == Activation::kRelu;
  float* const out = a.out;
  const float* const scale = a.scale;
  const float* const bias = a.bias;
  const int channels = a.channels;
  for (int g = 0; g < groups; ++g, w += group_words) {
    q.scale = _mm256_loadu_ps(scale + g * kLanes);
    q.bias = _mm256_loadu_ps(bias + g * kLanes);
    q.left = channels - g * kLanes;
    float* const dst = out + g * kLanes;
    int p = 0;
    for (; p + kTile <= pixels; p += kTile) {
      __m256i acc8[kTile], acc32[kTile];
      Dot<kTile, kShort, kOneTap>(x + p * taps, taps, blocks, w, acc8, acc32);
      STTN_UNROLL
      for (int i = 0; i < kTile; ++i) {
        StoreFloat(q, Sum32<kShort>(acc8, acc32, i), dst + (p + i) * q.stride);
      }
    }
    for (; p < pixels; ++p) {
      __m256i acc8[1], acc32[1];
      Dot<1, kShort, kOneTap>(x + p * taps, taps, blocks, w, acc8, acc32);
      StoreFloat(q, Sum32<kShort>(acc8, acc32, 0), dst + p * q.stride);
    }
  }
}

STTN_AVX2 void Avx2Kernel(const MicroKernelArgs& a) {
  const int chunks = a.taps * a.blocks;
  // The packed output compares int16 sums: K = taps * 32 * blocks at most.
  if (chunks <= kFlushChunks && a.taps == 1) {
    Kernel<true, true>(a);
  } else if (chunks <= kFlushChunks) {
    Kernel<true, false>(a);
  } else if (a.packed == nullptr || chunks * 32 <= kMaxInt16K) {
    Kernel<false, false>(a);
  } else {
    Kernel<false, false, false>(a);
  }
}

}  // namespace

MicroKernels Avx2MicroKernels() {
  return MicroKernels{kLanes, kTile, Avx2Kernel, Avx2Kernel, kMaxPixels};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
