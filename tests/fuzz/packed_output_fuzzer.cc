// libFuzzer target: the set-up of a packed (ternarized) output and the
// ternarization itself, on fuzzed constants:
// * ValidateThresholds on arbitrary floats;
// * IntegerOutputThresholds / PrepareTernaryGemmPackedOutput (every ISA
//   this CPU runs, into exactly TernaryGemmPackedOutputWords words) with
//   fuzzed out_c, k_max, scale, bias, activation and thresholds (NaN, inf,
//   denormals, lo > hi, ...);
// * TernarizeReference against TernarizeOptimized on every ISA.
//
// Oracles: no sanitizer report; where the integer thresholds are accepted,
// the trit they give for an accumulator equals the float epilogue's
// sgn * ([y > hi] - [y < lo]) (the contract in ternary_gemm.h), checked at
// both ends of [-k_max, k_max], next to each threshold and at fuzzed
// points; every ISA's prepared words hold the same thresholds (padding
// lanes never fire); every optimized ternarization equals the reference.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/packing.h"
#include "export/core/ternary_gemm.h"

namespace {

using sttn::core::Activation;
using sttn::core::Isa;

[[noreturn]] void Fail(const char* what, int o, int64_t acc) {
  std::fprintf(stderr, "packed output oracle: %s (channel %d, acc %lld)\n",
               what, o, static_cast<long long>(acc));
  std::abort();
}

float FuzzFloat(FuzzedDataProvider& fdp) {
  static const float kOdd[] = {0.0f,     -0.0f,     1.0f,        -1.0f,
                               INFINITY, -INFINITY, NAN,         1e-45f,
                               -1e-45f,  3.4e38f,   -3.4e38f,    0.5f,
                               -0.5f,    1e-7f,     16777216.0f, 0.1f};
  switch (fdp.ConsumeIntegralInRange(0, 3)) {
    case 0:
      return kOdd[fdp.ConsumeIntegralInRange(0, 15)];
    case 1:
      return fdp.ConsumeFloatingPoint<float>();
    default:  // small dyadic values: thresholds land on exact accumulators
      return static_cast<float>(fdp.ConsumeIntegralInRange(-4096, 4096)) /
             64.0f;
  }
}

int FloatTrit(int64_t acc, float scale, float bias, Activation act, float lo,
              float hi, float sgn) {
  const float y =
      sttn::core::Epilogue(static_cast<float>(acc), scale, bias, act);
  return (sgn < 0.0f ? -1 : 1) *
         (static_cast<int>(y > hi) - static_cast<int>(y < lo));
}

int IntTrit(int64_t acc, int32_t upper, int32_t lower, int32_t flip) {
  const bool up = acc >= upper, low = acc <= lower;
  if (up == low) return 0;
  return (low != (flip != 0)) ? -1 : 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider fdp(data, size);
  const int out_c = fdp.ConsumeIntegralInRange(1, 80);
  // k_max < 2^31 - 1: the "never" sentinels are INT32_MAX / INT32_MIN, so
  // an accumulator of exactly +-(2^31 - 1) is outside what the set-up can
  // express. (Prepare's shape limit allows K = 2^31 - 1 for out_c = 1, which
  // needs a 429 MB weight tensor; reported, not fuzzed.)
  const int64_t k_max =
      fdp.ConsumeBool()
          ? fdp.ConsumeIntegralInRange<int64_t>(0, 4096)
          : fdp.ConsumeIntegralInRange<int64_t>(0, int64_t{INT32_MAX} - 1);
  const Activation act =
      fdp.ConsumeBool() ? Activation::kRelu : Activation::kNone;
  std::vector<float> scale(out_c), bias(out_c), th(3 * out_c);
  const bool valid_sgn = fdp.ConsumeIntegralInRange(0, 7) != 0;
  for (int o = 0; o < out_c; ++o) {
    scale[o] = FuzzFloat(fdp);
    bias[o] = FuzzFloat(fdp);
    th[o] = FuzzFloat(fdp);
    th[out_c + o] = FuzzFloat(fdp);
    th[2 * out_c + o] =
        valid_sgn ? (fdp.ConsumeBool() ? 1.0f : -1.0f) : FuzzFloat(fdp);
  }
  const bool th_ok = sttn::core::ValidateThresholds(th.data(), out_c).ok();
  if (valid_sgn && !th_ok) Fail("valid sgn rejected", -1, 0);

  // Integer thresholds (the kernels use them only after ValidateThresholds).
  if (th_ok) {
    std::vector<int32_t> upper(out_c), lower(out_c), flip(out_c);
    const bool ok = sttn::core::IntegerOutputThresholds(
        out_c, k_max, scale.data(), bias.data(), act, th.data(), upper.data(),
        lower.data(), flip.data());
    bool finite = true;
    for (int o = 0; o < out_c; ++o) {
      finite = finite && std::isfinite(scale[o]) && std::isfinite(bias[o]);
    }
    if (ok != finite) Fail("accepted iff scale and bias are finite", -1, 0);
    if (ok) {
      std::vector<int64_t> probes = {-k_max, k_max, 0, -k_max + 1, k_max - 1};
      for (int i = 0; i < 8; ++i) {
        probes.push_back(fdp.ConsumeIntegralInRange<int64_t>(-k_max, k_max));
      }
      for (int o = 0; o < out_c; ++o) {
        std::vector<int64_t> at = probes;
        for (int64_t d = -1; d <= 1; ++d) {
          at.push_back(static_cast<int64_t>(upper[o]) + d);
          at.push_back(static_cast<int64_t>(lower[o]) + d);
        }
        for (int64_t acc : at) {
          if (acc < -k_max || acc > k_max) continue;
          const int want = FloatTrit(acc, scale[o], bias[o], act, th[o],
                                     th[out_c + o], th[2 * out_c + o]);
          if (IntTrit(acc, upper[o], lower[o], flip[o]) != want) {
            Fail("integer thresholds disagree with the float epilogue", o, acc);
          }
        }
      }
      // Every ISA's prepared layout, sized exactly as documented.
      for (int i = 0; i < sttn::core::kNumIsas; ++i) {
        const Isa isa = static_cast<Isa>(i);
        if (!sttn::core::IsaSupported(isa)) continue;
        const size_t words =
            sttn::core::TernaryGemmPackedOutputWords(isa, out_c);
        std::vector<int32_t> prepared(words);
        if (!sttn::core::PrepareTernaryGemmPackedOutput(
                isa, out_c, k_max, scale.data(), bias.data(), act, th.data(),
                prepared.data())) {
          Fail("PrepareTernaryGemmPackedOutput rejected accepted constants", -1,
               0);
        }
        const size_t padded = words / 3;
        for (size_t o = 0; o < padded; ++o) {
          const int32_t u = prepared[o], l = prepared[padded + o],
                        f = prepared[2 * padded + o];
          if (o < static_cast<size_t>(out_c)) {
            if (u != upper[o] || l != lower[o] || f != flip[o]) {
              Fail("ISA layout differs from IntegerOutputThresholds",
                   static_cast<int>(o), 0);
            }
          } else if (IntTrit(0, u, l, f) != 0 || IntTrit(k_max, u, l, f) != 0 ||
                     IntTrit(-k_max, u, l, f) != 0) {
            Fail("a padding lane fires", static_cast<int>(o), 0);
          }
        }
      }
    }
  }

  // Ternarization of fuzzed floats against the reference.
  if (th_ok) {
    const int64_t rows = fdp.ConsumeIntegralInRange<int64_t>(1, 5);
    std::vector<float> x(static_cast<size_t>(rows * out_c));
    for (auto& v : x) v = FuzzFloat(fdp);
    const int width = sttn::core::PackedWidth(out_c);
    std::vector<int32_t> want(static_cast<size_t>(rows * width));
    sttn::core::TernarizeReference(x.data(), rows, out_c, th.data(),
                                   want.data());
    for (int i = 0; i < sttn::core::kNumIsas; ++i) {
      const Isa isa = static_cast<Isa>(i);
      if (!sttn::core::IsaSupported(isa)) continue;
      std::vector<int32_t> got(want.size(), 0x5A5A5A5A);
      sttn::core::TernarizeOptimized(x.data(), rows, out_c, th.data(), isa,
                                     got.data(), 1 + (i % 2));
      if (got != want)
        Fail("TernarizeOptimized differs from the reference", -1, 0);
    }
  }
  return 0;
}
