// Internal to the ternary GEMM: the per-ISA micro-kernel tables (each
// defined in its own ternary_gemm_<isa>.cc; lanes == 0 where the build
// lacks the path) and helpers they share.
#ifndef STTN_EXPORT_CORE_TERNARY_GEMM_INTERNAL_H_
#define STTN_EXPORT_CORE_TERNARY_GEMM_INTERNAL_H_

#include <cstring>

#include "export/core/ternary_gemm.h"

#if defined(__GNUC__)
#define STTN_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define STTN_ALWAYS_INLINE inline
#endif

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

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define STTN_X86 1
#else
#define STTN_X86 0
#endif

namespace sttn {
namespace core {
namespace internal {

MicroKernels PortableMicroKernels();
MicroKernels PopcntMicroKernels();
MicroKernels Avx2MicroKernels();
MicroKernels Avx512MicroKernels();
MicroKernels NeonMicroKernels();

// Stores `lanes` floats of one pixel, or the first `channels` of them.
STTN_ALWAYS_INLINE void StoreLanes(const float* y, int lanes, int channels,
                                   float* out) {
  std::memcpy(out, y, sizeof(float) * (channels < lanes ? channels : lanes));
}

}  // namespace internal
}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_TERNARY_GEMM_INTERNAL_H_
