#include "export/core/isa.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define STTN_ISA_X86 1
#else
#define STTN_ISA_X86 0
#endif

namespace sttn {
namespace core {

bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return true;
#if STTN_ISA_X86
    case Isa::kPopcnt: {
      static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("popcnt") != 0;
      }();
      return has;
    }
    case Isa::kAvx2: {
      static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") != 0 &&
               __builtin_cpu_supports("popcnt") != 0;
      }();
      return has;
    }
    case Isa::kAvx512: {
      static const bool has = [] {
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") != 0 &&
               __builtin_cpu_supports("avx512bw") != 0 &&
               __builtin_cpu_supports("avx512vl") != 0 &&
               __builtin_cpu_supports("avx512vpopcntdq") != 0 &&
               __builtin_cpu_supports("avx2") != 0;
      }();
      return has;
    }
#endif
#if defined(__aarch64__)
    case Isa::kNeon:
      return true;  // Advanced SIMD is mandatory on aarch64
#endif
    default:
      return false;
  }
}

Isa BestIsa() {
  static const Isa best = [] {
    const Isa order[] = {Isa::kAvx512, Isa::kAvx2, Isa::kNeon, Isa::kPopcnt};
    for (Isa isa : order) {
      if (IsaSupported(isa)) return isa;
    }
    return Isa::kPortable;
  }();
  return best;
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kPortable:
      return "portable";
    case Isa::kPopcnt:
      return "popcnt";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kNeon:
      return "neon";
  }
  return "unknown";
}

}  // namespace core
}  // namespace sttn
