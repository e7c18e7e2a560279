// Instruction-set paths of the optimized kernels, chosen at run time.
//
// Every path is compiled into every build for its architecture (x86-64:
// portable, popcnt, avx2, avx512; aarch64: portable, neon) and selected by
// value, so one process can run the same test grid over every path the CPU
// supports. `BestIsa()` is what the "optimized" kernel type uses.
#ifndef STTN_EXPORT_CORE_ISA_H_
#define STTN_EXPORT_CORE_ISA_H_

namespace sttn {
namespace core {

enum class Isa {
  kPortable = 0,  // plain C++, SWAR popcount on x86 (no ISA extension)
  kPopcnt = 1,    // x86-64 with the POPCNT instruction (scalar)
  kAvx2 = 2,      // x86-64 AVX2 (vpshufb nibble popcount)
  kAvx512 = 3,    // x86-64 AVX-512 F/BW/VL + VPOPCNTDQ (vpternlogd, vpopcntd)
  kNeon = 4,      // aarch64 Advanced SIMD (cnt)
};
constexpr int kNumIsas = 5;

// True when this build contains the path and the CPU can run it.
bool IsaSupported(Isa isa);

// The fastest supported path.
Isa BestIsa();

// "portable", "popcnt", "avx2", "avx512", "neon".
const char* IsaName(Isa isa);

// x86 paths a path builds on: an avx512 op without an AVX-512 variant runs
// its AVX2 variant (the CPU has AVX2 too).
inline bool IsaAtLeastAvx2(Isa isa) {
  return isa == Isa::kAvx2 || isa == Isa::kAvx512;
}

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_ISA_H_
