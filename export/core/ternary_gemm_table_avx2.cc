// AVX2 table kernels (the table method of ternary_gemm.h): lanes 32, one
// int8 vector of 32 output channels per group.
//
// Per pixel: the row of every slice (SliceBlocks,
// ternary_gemm_table_internal.h), and one vpaddb per slice and group from it,
// for up to kInt8Groups (8) groups at once. With more slices than the int8
// sums hold (31 quads, 63 pairs) they are widened into two int16 vectors per
// group as they fill, in runs of up to kInt16Groups (4) groups (3 registers
// each).
//
// Epilogues. Packed output: the int32 thresholds saturate to int8 (int16)
// once per call, which keeps every compare's outcome (|acc| <= 124 with int8
// sums, <= 32766 with int16, and a saturated bound lies beyond either), and a
// group's mask and sign words come straight from two vpmovmskb. Floats:
// scale * acc + bias in 8-lane steps, rounded twice like the reference.
#include "export/core/ternary_gemm_internal.h"
#include "export/core/ternary_gemm_table_internal.h"

namespace sttn {
namespace core {
namespace internal {

#if STTN_X86
namespace {

constexpr int kMaxPixels = 16;
constexpr int kInt8Groups = 8;
constexpr int kInt16Groups = 4;

#define STTN_AVX2 __attribute__((target("avx2")))

// A group's thresholds for int8 or int16 compares; flip and valid as bits.
struct Thresholds {
  __m256i upper8, lower8;          // int8 sums
  __m256i upper16[2], lower16[2];  // int16 sums: channels 0-15, 16-31
  uint32_t flip, valid;
};

// 32 int32 -> 32 int8 (saturating), in channel order.
STTN_AVX2 STTN_ALWAYS_INLINE __m256i Saturate8(const int32_t* v) {
  const __m256i* p = reinterpret_cast<const __m256i*>(v);
  const __m256i ab =
      _mm256_packs_epi32(_mm256_loadu_si256(p), _mm256_loadu_si256(p + 1));
  const __m256i cd =
      _mm256_packs_epi32(_mm256_loadu_si256(p + 2), _mm256_loadu_si256(p + 3));
  return _mm256_permutevar8x32_epi32(_mm256_packs_epi16(ab, cd),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// 16 int32 -> 16 int16 (saturating), in channel order.
STTN_AVX2 STTN_ALWAYS_INLINE __m256i Saturate16(const int32_t* v) {
  const __m256i* p = reinterpret_cast<const __m256i*>(v);
  return _mm256_permute4x64_epi64(
      _mm256_packs_epi32(_mm256_loadu_si256(p), _mm256_loadu_si256(p + 1)),
      0xD8);
}

STTN_AVX2 STTN_ALWAYS_INLINE uint32_t Bits(__m256i v) {
  return static_cast<uint32_t>(_mm256_movemask_epi8(v));
}

// Bytes of two int16 compare results (channels 0-15, 16-31) in order.
STTN_AVX2 STTN_ALWAYS_INLINE uint32_t Bits16(__m256i lo, __m256i hi) {
  return Bits(_mm256_permute4x64_epi64(_mm256_packs_epi16(lo, hi), 0xD8));
}

STTN_AVX2 STTN_ALWAYS_INLINE void StoreWords(const Thresholds& q, uint32_t U,
                                             uint32_t L, uint8_t* dst) {
  // U = !(acc >= upper), L = !(acc <= lower): nonzero iff U != L, negative
  // iff also L == flip (ternary_gemm.h).
  const uint32_t mask = (U ^ L) & q.valid;
  const uint32_t sign = mask & ~(L ^ q.flip);
  std::memcpy(dst, &mask, 4);
  std::memcpy(dst + 4, &sign, 4);
}

STTN_AVX2 STTN_ALWAYS_INLINE void StoreFloat8(__m256i acc32, const float* sc,
                                              const float* bi, bool relu,
                                              int left, float* dst) {
  __m256 y = _mm256_add_ps(
      _mm256_mul_ps(_mm256_cvtepi32_ps(acc32), _mm256_loadu_ps(sc)),
      _mm256_loadu_ps(bi));
  if (relu) y = _mm256_max_ps(y, _mm256_setzero_ps());
  if (left >= 8) {
    _mm256_storeu_ps(dst, y);
  } else if (left > 0) {
    alignas(32) float tmp[8];
    _mm256_store_ps(tmp, y);
    StoreLanes(tmp, 8, left, dst);
  }
}

struct Call {
  const MicroKernelArgs* a;
  const Thresholds* th;  // packed output, per group of the call
};

// The int8 sums of G groups widened into their int16 sums (channels 0-15,
// 16-31 of group i in acc16[2 i], acc16[2 i + 1]); the int8 sums restart.
template <int G>
STTN_AVX2 STTN_ALWAYS_INLINE void Widen(__m256i* acc8, __m256i* acc16) {
  STTN_UNROLL
  for (int i = 0; i < G; ++i) {
    acc16[2 * i] = _mm256_add_epi16(
        acc16[2 * i], _mm256_cvtepi8_epi16(_mm256_castsi256_si128(acc8[i])));
    acc16[2 * i + 1] = _mm256_add_epi16(
        acc16[2 * i + 1],
        _mm256_cvtepi8_epi16(_mm256_extracti128_si256(acc8[i], 1)));
    acc8[i] = _mm256_setzero_si256();
  }
}

template <int G>
STTN_AVX2 STTN_ALWAYS_INLINE void AddRow(const int8_t* row, __m256i* acc8) {
  STTN_UNROLL
  for (int i = 0; i < G; ++i) {
    acc8[i] = _mm256_add_epi8(
        acc8[i], _mm256_loadu_si256(
                     reinterpret_cast<const __m256i*>(row + i * kTableLanes)));
  }
}

// The epilogue of groups [g0, g0 + G) of one pixel.
template <int G, bool kInt16>
STTN_AVX2 STTN_ALWAYS_INLINE void Store(const Call& c, const __m256i* acc8,
                                        const __m256i* acc16, int g0,
                                        int pixel) {
  const MicroKernelArgs& a = *c.a;
  if (a.packed != nullptr) {
    uint8_t* dst = a.packed + pixel * a.packed_stride +
                   static_cast<int64_t>(a.first_group + g0) * 8;
    STTN_UNROLL
    for (int i = 0; i < G; ++i) {
      const Thresholds& t = c.th[g0 + i];
      if constexpr (kInt16) {
        StoreWords(t,
                   Bits16(_mm256_cmpgt_epi16(t.upper16[0], acc16[2 * i]),
                          _mm256_cmpgt_epi16(t.upper16[1], acc16[2 * i + 1])),
                   Bits16(_mm256_cmpgt_epi16(acc16[2 * i], t.lower16[0]),
                          _mm256_cmpgt_epi16(acc16[2 * i + 1], t.lower16[1])),
                   dst + 8 * i);
      } else {
        StoreWords(t, Bits(_mm256_cmpgt_epi8(t.upper8, acc8[i])),
                   Bits(_mm256_cmpgt_epi8(acc8[i], t.lower8)), dst + 8 * i);
      }
    }
    return;
  }
  const bool relu = a.act == Activation::kRelu;
  float* dst = a.out + pixel * a.out_stride;
  STTN_UNROLL
  for (int i = 0; i < G; ++i) {
    const int lane0 = (g0 + i) * kTableLanes;
    __m256i quarter[4];
    if constexpr (kInt16) {
      quarter[0] = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc16[2 * i]));
      quarter[1] =
          _mm256_cvtepi16_epi32(_mm256_extracti128_si256(acc16[2 * i], 1));
      quarter[2] =
          _mm256_cvtepi16_epi32(_mm256_castsi256_si128(acc16[2 * i + 1]));
      quarter[3] =
          _mm256_cvtepi16_epi32(_mm256_extracti128_si256(acc16[2 * i + 1], 1));
    } else {
      const __m128i lo = _mm256_castsi256_si128(acc8[i]);
      const __m128i hi = _mm256_extracti128_si256(acc8[i], 1);
      quarter[0] = _mm256_cvtepi8_epi32(lo);
      quarter[1] = _mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8));
      quarter[2] = _mm256_cvtepi8_epi32(hi);
      quarter[3] = _mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8));
    }
    STTN_UNROLL
    for (int k = 0; k < 4; ++k) {
      const int lane = lane0 + 8 * k;
      StoreFloat8(quarter[k], a.scale + lane, a.bias + lane, relu,
                  a.channels - lane, dst + lane);
    }
  }
}

// Groups [g0, g0 + G) of one pixel whose slices' rows are `rows`.
template <int kTrits, int G, bool kInt16>
STTN_AVX2 STTN_ALWAYS_INLINE void SomeGroups(const Call& c,
                                             const int8_t* const* rows,
                                             int64_t slices, int g0, int p) {
  __m256i acc8[G];
  __m256i acc16[kInt16 ? 2 * G : 1];
  STTN_UNROLL
  for (int i = 0; i < G; ++i) acc8[i] = _mm256_setzero_si256();
  if constexpr (kInt16) {
    STTN_UNROLL
    for (int i = 0; i < 2 * G; ++i) acc16[i] = _mm256_setzero_si256();
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

// All G groups of the call at once: each slice's row is added as soon as it
// is found.
template <int kTrits, int G, bool kInt16>
STTN_AVX2 void AllGroups(const Call& c) {
  const MicroKernelArgs& a = *c.a;
  for (int p = 0; p < a.pixels; ++p) {
    __m256i acc8[G];
    __m256i acc16[kInt16 ? 2 * G : 1];
    STTN_UNROLL
    for (int i = 0; i < G; ++i) acc8[i] = _mm256_setzero_si256();
    if constexpr (kInt16) {
      STTN_UNROLL
      for (int i = 0; i < 2 * G; ++i) acc16[i] = _mm256_setzero_si256();
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

// The last groups of a pixel, fewer than a run: SomeGroups for G = their
// number (a compile-time count, chosen by recursion from G down to 1).
template <int kTrits, bool kInt16, int G>
STTN_AVX2 STTN_ALWAYS_INLINE void Rest(const Call& c, const int8_t* const* rows,
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
STTN_AVX2 void ManyGroups(const Call& c) {
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
STTN_AVX2 void Run(const Call& c) {
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

STTN_AVX2 void TableKernel(const MicroKernelArgs& a) {
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
        t.upper16[0] = Saturate16(up);
        t.upper16[1] = Saturate16(up + 16);
        t.lower16[0] = Saturate16(lo);
        t.lower16[1] = Saturate16(lo + 16);
      } else {
        t.upper8 = Saturate8(up);
        t.lower8 = Saturate8(lo);
      }
      t.flip = Bits(Saturate8(fl));
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

MicroKernels Avx2TableKernels() {
  return MicroKernels{kTableLanes, 1, TableKernel, TableKernel, kMaxPixels};
}
#endif

}  // namespace internal
}  // namespace core
}  // namespace sttn
