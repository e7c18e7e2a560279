// Ternary-input depthwise conv2d, optimized: the driver (prepared
// constants, scratch, bands of rows over threads, choice of path). The
// decoding of input rows and the band loop are in depthwise_internal.h, the
// arithmetic in depthwise_<isa>.cc: portable (int32 lanes), avx2 (vpsignb,
// int8 accumulators) and neon (mla on int8 lanes).
//
// Outputs: floats through the affine epilogue, or, for a packed output,
// bits straight from the accumulators: the integer thresholds of
// ternary_gemm.h (IntegerOutputThresholds), compared in int8 on the SIMD
// paths.
//
// Threads: work items are bands of output rows of one image; each thread
// decodes the input rows of its band into its own ring.
#include <climits>
#include <cstdint>
#include <cstring>

#include "export/core/depthwise_internal.h"
#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/ternary_gemm.h"
#include "export/core/threadpool.h"

namespace sttn {
namespace core {
namespace depthwise {

PreparedLayout MakePreparedLayout(const ConvShape& s) {
  PreparedLayout l;
  l.cp = (s.out_c + 31) / 32 * 32;
  const size_t cp = static_cast<size_t>(l.cp);
  size_t at = 0;
  auto take = [&at](size_t bytes) {
    const size_t here = at;
    at = AlignUp64(at + bytes);
    return here;
  };
  l.weights = take(static_cast<size_t>(s.kernel_h) * s.kernel_w * cp);
  l.scale = take(cp * sizeof(float));
  l.bias = take(cp * sizeof(float));
  l.upper = take(cp * sizeof(int32_t));
  l.lower = take(cp * sizeof(int32_t));
  l.flip = take(cp * sizeof(int32_t));
  l.upper8 = take(cp);
  l.lower8 = take(cp);
  l.flip_bits = take(cp / 32 * sizeof(uint32_t));
  l.packed_ok = take(sizeof(int32_t));
  l.total = at + 64;
  return l;
}

ThreadLayout MakeThreadLayout(const ConvShape& s, int cp) {
  ThreadLayout t;
  t.wp = static_cast<int64_t>(s.out_w - 1) * s.stride_w + s.kernel_w;
  size_t at = 0;
  t.ring = at;
  at = AlignUp64(at + (static_cast<size_t>(s.kernel_h) + 1) *
                          static_cast<size_t>(t.wp) * static_cast<size_t>(cp));
  t.acc = at;
  at = AlignUp64(at + static_cast<size_t>(cp) * sizeof(int32_t));
  t.row_ptrs = at;
  at = AlignUp64(at + static_cast<size_t>(s.kernel_h) * sizeof(const int8_t*));
  t.slot_bytes = at;
  return t;
}

}  // namespace depthwise

namespace {

constexpr int kThreadSlots = 8;  // per-thread rings held by a layer

uint8_t* Aligned(void* p) {
  return reinterpret_cast<uint8_t*>(
      depthwise::AlignUp64(reinterpret_cast<uintptr_t>(p)));
}
const uint8_t* Aligned(const void* p) {
  return reinterpret_cast<const uint8_t*>(
      depthwise::AlignUp64(reinterpret_cast<uintptr_t>(p)));
}

}  // namespace

size_t DepthwiseTernaryPreparedBytes(const ConvShape& s) {
  return depthwise::MakePreparedLayout(s).total;
}

bool PrepareDepthwiseTernary(const ConvShape& s, const int8_t* w_hwo,
                             const float* scale, const float* bias,
                             Activation act, const float* out_thresholds,
                             void* prepared) {
  const depthwise::PreparedLayout l = depthwise::MakePreparedLayout(s);
  uint8_t* base = Aligned(prepared);
  std::memset(base, 0, l.total - 64);
  const int taps = s.kernel_h * s.kernel_w;
  int8_t* w = reinterpret_cast<int8_t*>(base + l.weights);
  for (int t = 0; t < taps; ++t) {
    std::memcpy(w + static_cast<int64_t>(t) * l.cp,
                w_hwo + static_cast<int64_t>(t) * s.out_c, s.out_c);
  }
  float* sp = reinterpret_cast<float*>(base + l.scale);
  float* bp = reinterpret_cast<float*>(base + l.bias);
  int32_t* up = reinterpret_cast<int32_t*>(base + l.upper);
  int32_t* lw = reinterpret_cast<int32_t*>(base + l.lower);
  int32_t* fl = reinterpret_cast<int32_t*>(base + l.flip);
  for (int o = 0; o < l.cp; ++o) {
    sp[o] = o < s.out_c ? scale[o] : 0.0f;
    bp[o] = o < s.out_c ? bias[o] : 0.0f;
    up[o] = INT32_MAX;
    lw[o] = INT32_MIN;
    fl[o] = 0;
  }
  bool ok = false;
  if (out_thresholds != nullptr) {
    ok = IntegerOutputThresholds(s.out_c, taps, scale, bias, act,
                                 out_thresholds, up, lw, fl);
    int8_t* u8 = reinterpret_cast<int8_t*>(base + l.upper8);
    int8_t* l8 = reinterpret_cast<int8_t*>(base + l.lower8);
    uint32_t* fb = reinterpret_cast<uint32_t*>(base + l.flip_bits);
    auto clamp8 = [](int64_t v) {
      return static_cast<int8_t>(v < -128 ? -128 : (v > 127 ? 127 : v));
    };
    for (int o = 0; o < l.cp; ++o) {
      // acc in [-127, 127]: acc >= U <=> acc > U - 1; acc <= L <=> !(acc > L).
      u8[o] = clamp8(static_cast<int64_t>(up[o]) - 1);
      l8[o] = clamp8(lw[o]);
      if (fl[o] != 0) fb[o / 32] |= 1u << (o % 32);
    }
  }
  *reinterpret_cast<int32_t*>(base + l.packed_ok) = ok ? 1 : 0;
  return ok;
}

size_t DepthwiseTernaryScratchBytes(const ConvShape& s) {
  const depthwise::PreparedLayout pl = depthwise::MakePreparedLayout(s);
  return depthwise::MakeThreadLayout(s, pl.cp).slot_bytes * kThreadSlots + 64;
}

void PrepareDepthwiseTernaryScratch(const ConvShape& s, void* scratch) {
  std::memset(scratch, 0, DepthwiseTernaryScratchBytes(s));
}

void DepthwiseConv2DTernaryOptimized(const ConvShape& s,
                                     const int32_t* x_packed,
                                     const void* prepared, Activation act,
                                     Isa isa, int threads, void* scratch,
                                     float* out, int32_t* packed_out) {
  depthwise::Job j;
  j.s = &s;
  j.pl = depthwise::MakePreparedLayout(s);
  j.tl = depthwise::MakeThreadLayout(s, j.pl.cp);
  j.prepared = Aligned(prepared);
  j.scratch = Aligned(scratch);
  j.x = reinterpret_cast<const uint32_t*>(x_packed);
  j.act = act;
  j.out = out;
  j.packed = packed_out;
  if (threads > kThreadSlots) threads = kThreadSlots;
  if (threads < 1) threads = 1;
  // Bands of rows: one per image on one thread; else enough for every
  // thread (decoding kh - stride rows twice at each band edge).
  // Small layers run on one thread (see the GEMM's threshold): a unit is
  // 32 channels of one output pixel and tap.
  const int64_t work = static_cast<int64_t>(s.batch) * s.out_h * s.out_w *
                       (j.pl.cp / 32) * s.kernel_h * s.kernel_w;
  if (work < (int64_t{1} << 12)) threads = 1;
  j.bands = 1;
  if (threads > 1) {
    const int wanted = (2 * threads + s.batch - 1) / s.batch;
    j.bands = wanted < s.out_h ? wanted : s.out_h;
  }
  j.band_rows = (s.out_h + j.bands - 1) / j.bands;
  j.bands = (s.out_h + j.band_rows - 1) / j.band_rows;
  const int64_t items = static_cast<int64_t>(s.batch) * j.bands;
  ParallelFn fn = nullptr;
  const bool int8_acc = s.kernel_h * s.kernel_w <= depthwise::kMaxInt8Taps;
  if (IsaAtLeastAvx2(isa) && int8_acc) fn = depthwise::Avx2Item();
  if (isa == Isa::kNeon && int8_acc) fn = depthwise::NeonItem();
  if (fn == nullptr) fn = depthwise::PortableItem();
  ParallelFor(threads, items, fn, &j);
}

}  // namespace core
}  // namespace sttn
