// Internal to the ternary GEMM: the per-ISA micro-kernel tables (each
// defined in its own ternary_gemm_<isa>.cc, and only where the build has the
// path: TernaryGemmMicroKernels returns lanes == 0 for the others) and
// helpers they share.
#ifndef STTN_EXPORT_CORE_TERNARY_GEMM_INTERNAL_H_
#define STTN_EXPORT_CORE_TERNARY_GEMM_INTERNAL_H_

#include <cstring>

#include "export/core/cpu_target.h"
#include "export/core/ternary_gemm.h"

// Full unrolling of the loops over a tile's pixels: the accumulators then
// have constant indices and live in registers (without it GCC keeps them in
// a stack array and zeroes it with rep stos on every call).
#if defined(__clang__)
#define STTN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define STTN_UNROLL _Pragma("GCC unroll 16")
#else
#define STTN_UNROLL
#endif

// Region markers for llvm-mca (benchmarks/llvm_mca.py builds with
// -DSTTN_MCA_REGIONS); empty otherwise.
#if defined(STTN_MCA_REGIONS)
#define STTN_MCA_BEGIN(cond, name)                                  \
  do {                                                              \
    if constexpr (cond) __asm__ volatile("# LLVM-MCA-BEGIN " name); \
  } while (0)
#define STTN_MCA_END(cond)                                  \
  do {                                                      \
    if constexpr (cond) __asm__ volatile("# LLVM-MCA-END"); \
  } while (0)
#else
#define STTN_MCA_BEGIN(cond, name) \
  do {                             \
  } while (0)
#define STTN_MCA_END(cond) \
  do {                     \
  } while (0)
#endif

#define STTN_X86 STTN_X86_DISPATCH

namespace sttn {
namespace core {
namespace internal {

MicroKernels PortableMicroKernels();
MicroKernels PopcntMicroKernels();
MicroKernels Avx2MicroKernels();
MicroKernels Avx512MicroKernels();
MicroKernels NeonMicroKernels();
MicroKernels Avx2TableKernels();
MicroKernels NeonTableKernels();

// Words before the method's data in prepared weights: word 0 is the
// GemmMethod (64 bytes, so what follows keeps its alignment).
constexpr int kGemmHeaderWords = 16;

// The table method (ternary_gemm.h): a slice of `trits` input channels (4,
// or 2 where a layer's 4-trit tables would not fit) has 3^trits rows;
// output channels in groups of 32 (one int8 vector on AVX2, two on NEON).
constexpr int kTableLanes = 32;
// Limits that keep the kernels' per-pixel arrays on the stack.
constexpr int kTableMaxSlices = 1024;
constexpr int kTableMaxGroups = 64;

// Slices whose int8 sums cannot wrap: 127 / trits (31 quads, 63 pairs).
constexpr int TableInt8Slices(int trits) { return 127 / trits; }

struct TableLayout {
  int trits = 0;         // per slice: 4 or 2
  int rows = 0;          // per slice: 3^trits
  int slices = 0;        // per tap: ceil(in_c / trits)
  int64_t sections = 0;  // taps * slices
  int stride = 0;        // bytes per row: out_c padded to 32
  int groups = 0;        // stride / 32
  size_t table_bytes = 0;
  bool fits = false;  // within kTableMaxBytes and the limits above
  // Word offsets in the prepared weights (the tables start at word
  // packed[1], 64-byte aligned, at most 15 words after `table`).
  size_t row_offset = 0, scale = 0, bias = 0, table = 0, words = 0;
};
// The layout with 4-trit slices where they fit, else 2-trit slices.
TableLayout MakeTableLayout(int out_c, int taps, int in_c);

// Writes a layer's prepared weights for the table method (l.words words).
void PackTables(const int8_t* w, int out_c, int taps, int in_c,
                const float* scale, const float* bias, uint32_t* packed);

// The input rows of tap t for a tile's P pixels (the driver's pointer
// table holds, per pixel, one row pointer per tap).
template <int P>
struct TapRows {
  STTN_ALWAYS_INLINE TapRows(const MicroKernelArgs& a, int t) {
    STTN_UNROLL
    for (int p = 0; p < P; ++p) row[p] = a.x[p * a.taps + t];
  }
  STTN_ALWAYS_INLINE const uint32_t* operator[](int p) const { return row[p]; }
  const uint32_t* row[P];
};

// Runs `one`, a micro-kernel of one weight group (its arguments pointing at
// that group, `packed` at its mask byte), over the run of groups of `a`.
template <int Lanes, typename F>
STTN_ALWAYS_INLINE void ForEachGroup(const MicroKernelArgs& a, F&& one) {
  const int64_t group_words =
      static_cast<int64_t>(a.taps) * a.blocks * 2 * Lanes;
  MicroKernelArgs g = a;
  g.groups = 1;
  for (int i = 0; i < a.groups; ++i) {
    g.first_group = a.first_group + i;
    g.w = a.w + i * group_words;
    g.scale = a.scale + i * Lanes;
    g.bias = a.bias + i * Lanes;
    g.channels = a.channels - i * Lanes;
    if (a.packed != nullptr) {
      const int first = g.first_group * Lanes;
      g.packed = a.packed + (first / 32) * 8 + (first % 32) / 8;
      g.upper = a.upper + i * Lanes;
      g.lower = a.lower + i * Lanes;
      g.flip = a.flip + i * Lanes;
    } else {
      g.out = a.out + i * Lanes;
    }
    one(g);
  }
}

// Stores `lanes` floats of one pixel, or the first `channels` of them.
STTN_ALWAYS_INLINE void StoreLanes(const float* y, int lanes, int channels,
                                   float* out) {
  std::memcpy(out, y, sizeof(float) * (channels < lanes ? channels : lanes));
}

}  // namespace internal
}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_TERNARY_GEMM_INTERNAL_H_
