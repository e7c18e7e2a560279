// Portable C++ micro-kernels (lanes 8, tile 4), compiled twice on x86-64:
// for the baseline ISA with a SWAR popcount ("portable") and with
// target("popcnt") ("popcnt"). Elsewhere "portable" uses the compiler's
// popcount (a cnt instruction on aarch64).
#include "export/core/ternary_gemm_internal.h"

namespace sttn {
namespace core {
namespace internal {
namespace {

constexpr int kLanes = 8;
constexpr int kTile = 4;

struct SwarPopcount {
  static STTN_ALWAYS_INLINE int Count(uint32_t v) {
#if STTN_X86
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    v = (v + (v >> 4)) & 0x0f0f0f0fu;
    return static_cast<int>((v * 0x01010101u) >> 24);
#else
    return __builtin_popcount(v);
#endif
  }
};

struct BuiltinPopcount {
  static STTN_ALWAYS_INLINE int Count(uint32_t v) {
    return __builtin_popcount(v);
  }
};

template <int P, typename Pop>
STTN_ALWAYS_INLINE void Micro(const MicroKernelArgs& a) {
  int32_t acc[P][kLanes] = {};
  const uint32_t* w = a.w;
  for (int t = 0; t < a.taps; ++t) {
    const TapRows<P> x(a, t);
    for (int b = 0; b < a.blocks; ++b, w += 2 * kLanes) {
      STTN_UNROLL
      for (int p = 0; p < P; ++p) {
        const uint32_t xm = x[p][2 * b];
        const uint32_t xs = x[p][2 * b + 1];
        for (int l = 0; l < kLanes; ++l) {
          const uint32_t m = w[l] & xm;
          const uint32_t neg = m & (w[kLanes + l] ^ xs);
          acc[p][l] += Pop::Count(m) - 2 * Pop::Count(neg);
        }
      }
    }
  }
  if (a.packed != nullptr) {
    for (int p = 0; p < P; ++p) {
      if (p >= a.pixels) break;
      unsigned mask = 0, sign = 0;
      for (int l = 0; l < kLanes && l < a.channels; ++l) {
        const bool ge = acc[p][l] >= a.upper[l];
        const bool le = acc[p][l] <= a.lower[l];
        const bool nz = ge != le;
        mask |= static_cast<unsigned>(nz) << l;
        sign |= static_cast<unsigned>(nz && (le != (a.flip[l] != 0))) << l;
      }
      uint8_t* dst = a.packed + p * a.packed_stride;
      dst[0] = static_cast<uint8_t>(mask);
      dst[4] = static_cast<uint8_t>(sign);
    }
    return;
  }
  for (int p = 0; p < P; ++p) {
    if (p >= a.pixels) break;
    float y[kLanes];
    for (int l = 0; l < kLanes; ++l) {
      y[l] =
          Epilogue(static_cast<float>(acc[p][l]), a.scale[l], a.bias[l], a.act);
    }
    StoreLanes(y, kLanes, a.channels, a.out + p * a.out_stride);
  }
}

void PortableFull(const MicroKernelArgs& a) {
  ForEachGroup<kLanes>(a, Micro<kTile, SwarPopcount>);
}
void PortableSingle(const MicroKernelArgs& a) {
  ForEachGroup<kLanes>(a, Micro<1, SwarPopcount>);
}

#if STTN_X86
__attribute__((target("popcnt"))) void PopcntFull1(const MicroKernelArgs& a) {
  Micro<kTile, BuiltinPopcount>(a);
}
__attribute__((target("popcnt"))) void PopcntSingle1(const MicroKernelArgs& a) {
  Micro<1, BuiltinPopcount>(a);
}
void PopcntFull(const MicroKernelArgs& a) {
  ForEachGroup<kLanes>(a, PopcntFull1);
}
void PopcntSingle(const MicroKernelArgs& a) {
  ForEachGroup<kLanes>(a, PopcntSingle1);
}
#endif

}  // namespace

MicroKernels PortableMicroKernels() {
  return MicroKernels{kLanes, kTile, PortableFull, PortableSingle};
}

MicroKernels PopcntMicroKernels() {
#if STTN_X86
  return MicroKernels{kLanes, kTile, PopcntFull, PopcntSingle};
#else
  return MicroKernels();
#endif
}

}  // namespace internal
}  // namespace core
}  // namespace sttn
