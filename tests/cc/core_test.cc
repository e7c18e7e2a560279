// Unit test of the TFLite-free core (export/core) and of the FlexBuffer map
// reader (export/tflite/flexbuffer_map.cc, also TFLite-free). Built and run by
// tests/test_core_cc.py with -fsanitize=address,undefined; also a Bazel
// cc_test (BUILD). A tiny harness of our own: no gtest dependency.
//
// Every optimized kernel is compared with the reference kernel on random data
// over a shape grid; the reference kernels are checked against an independent
// direct formula on a few hand-made cases.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "export/core/isa.h"
#include "export/core/kernels.h"
#include "export/core/packing.h"
#include "export/core/ternary_gemm.h"
#include "export/tflite/flexbuffer_map.h"

namespace {

using sttn::core::Isa;

// Every ISA path of this build that the CPU runs (on x86-64: portable,
// popcnt, avx2, avx512 as available; on aarch64 under qemu: portable, neon).
std::vector<Isa> SupportedIsas() {
  std::vector<Isa> out;
  for (int i = 0; i < sttn::core::kNumIsas; ++i) {
    if (sttn::core::IsaSupported(static_cast<Isa>(i))) out.push_back(static_cast<Isa>(i));
  }
  return out;
}

int g_failures = 0;
int g_checks = 0;

#define CHECK(cond)                                                     \
  do {                                                                  \
    ++g_checks;                                                         \
    if (!(cond)) {                                                      \
      ++g_failures;                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,       \
                   __LINE__, #cond);                                    \
    }                                                                   \
  } while (0)

#define CHECK_MSG(cond, ...)                                            \
  do {                                                                  \
    ++g_checks;                                                         \
    if (!(cond)) {                                                      \
      ++g_failures;                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__,       \
                   __LINE__, #cond);                                    \
      std::fprintf(stderr, __VA_ARGS__);                                \
      std::fprintf(stderr, "\n");                                       \
    }                                                                   \
  } while (0)

using sttn::core::Activation;
using sttn::core::ConvShape;
using sttn::core::FullyConnectedShape;
using sttn::core::Padding;
using sttn::core::Status;

std::mt19937 g_rng(1234);

std::vector<int8_t> RandomTrits(size_t n) {
  std::uniform_int_distribution<int> d(-1, 1);
  std::vector<int8_t> t(n);
  for (auto& v : t) v = static_cast<int8_t>(d(g_rng));
  return t;
}

std::vector<float> RandomFloats(size_t n) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}

// Quarter-step floats: every sum we form is exact in float32.
std::vector<float> ExactFloats(size_t n) {
  std::uniform_int_distribution<int> d(-8, 8);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(g_rng)) / 4.0f;
  return v;
}

std::vector<int32_t> Pack(const std::vector<int8_t>& trits, int64_t rows,
                          int channels) {
  std::vector<int32_t> p(static_cast<size_t>(rows) *
                         sttn::core::PackedWidth(channels));
  sttn::core::PackTritsCompute(trits.data(), rows, channels, p.data());
  return p;
}

// ---------------------------------------------------------------------------
void TestFilePacking() {
  for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 33, 1000}) {
    std::vector<int8_t> t = RandomTrits(static_cast<size_t>(n));
    std::vector<uint8_t> buf(static_cast<size_t>(sttn::core::FilePackedBytes(n)) +
                             1);
    CHECK(sttn::core::PackTritsFile(t.data(), n, buf.data()).ok());
    std::vector<int8_t> back(static_cast<size_t>(n) + 1, 42);
    CHECK(sttn::core::UnpackTritsFile(buf.data(), buf.size() - 1, n,
                                      back.data())
              .ok());
    back.resize(static_cast<size_t>(n));
    CHECK(back == t);
    // Wrong byte counts.
    CHECK(!sttn::core::UnpackTritsFile(buf.data(), buf.size(), n, back.data())
               .ok());
  }
  // Codes: +1 = 0b01, -1 = 0b11, 0 = 0b00, little-endian within the byte.
  const int8_t t[5] = {1, 0, -1, 1, -1};
  uint8_t b[2];
  CHECK(sttn::core::PackTritsFile(t, 5, b).ok());
  CHECK(b[0] == 0x71 && b[1] == 0x03);
  int8_t out[8];
  const uint8_t invalid[1] = {0x08};  // trit 1 = 0b10
  Status st = sttn::core::UnpackTritsFile(invalid, 1, 4, out);
  CHECK(!st.ok() && std::strstr(st.message(), "0b10 at trit 1") != nullptr);
  const uint8_t dirty[1] = {0x40};  // trit 3 set, but n = 3
  st = sttn::core::UnpackTritsFile(dirty, 1, 3, out);
  CHECK(!st.ok() && std::strstr(st.message(), "unused bits") != nullptr);
  const int8_t not_trit[1] = {2};
  CHECK(!sttn::core::PackTritsFile(not_trit, 1, b).ok());
}

// Base-3 weight packing (op format v2, "base3"): 5 trits per byte.
void TestBase3Packing() {
  using sttn::core::WeightEncoding;
  for (int64_t n : {0, 1, 4, 5, 6, 9, 10, 11, 33, 1000, 1003}) {
    std::vector<int8_t> t = RandomTrits(static_cast<size_t>(n));
    const int64_t bytes = sttn::core::Base3PackedBytes(n);
    CHECK(bytes == (n + 4) / 5);
    CHECK(sttn::core::WeightBytes(WeightEncoding::kBase3, n) == bytes);
    CHECK(sttn::core::WeightBytes(WeightEncoding::kTrit2, n) ==
          sttn::core::FilePackedBytes(n));
    std::vector<uint8_t> buf(static_cast<size_t>(bytes) + 1, 0);
    CHECK(sttn::core::PackTritsBase3(t.data(), n, buf.data()).ok());
    for (int64_t b = 0; b < bytes; ++b) {
      CHECK(buf[static_cast<size_t>(b)] <= 242);
    }
    std::vector<int8_t> back(static_cast<size_t>(n) + 1, 42);
    CHECK(sttn::core::UnpackWeights(WeightEncoding::kBase3, buf.data(),
                                    static_cast<size_t>(bytes), n, back.data())
              .ok());
    CHECK(back[static_cast<size_t>(n)] == 42);  // writes exactly n trits
    back.resize(static_cast<size_t>(n));
    CHECK(back == t);
    // Wrong byte counts, both ways.
    CHECK(!sttn::core::UnpackTritsBase3(
               buf.data(), static_cast<size_t>(bytes) + 1, n, back.data())
               .ok());
    if (n > 0) {
      CHECK(!sttn::core::UnpackTritsBase3(buf.data(),
                                          static_cast<size_t>(bytes) - 1, n,
                                          back.data())
                 .ok());
    }
  }
  // Digits: trit i is digit i (least significant first); 0 -> 0, 1 -> +1,
  // 2 -> -1. {1, -1, 0, 1, -1} = 1 + 2*3 + 0*9 + 1*27 + 2*81 = 196.
  const int8_t t[6] = {1, -1, 0, 1, -1, 1};
  uint8_t b[2];
  CHECK(sttn::core::PackTritsBase3(t, 6, b).ok());
  CHECK(b[0] == 196 && b[1] == 1);
  // Every valid byte decodes to the digits of its value.
  for (int v = 0; v <= 242; ++v) {
    const uint8_t byte = static_cast<uint8_t>(v);
    int8_t out5[5];
    CHECK(sttn::core::UnpackTritsBase3(&byte, 1, 5, out5).ok());
    int rest = v;
    for (int i = 0; i < 5; ++i) {
      const int digit = rest % 3;
      rest /= 3;
      CHECK(out5[i] == (digit == 0 ? 0 : digit == 1 ? 1 : -1));
    }
  }
  int8_t out[8];
  // Bytes 243..255 are invalid, with the byte named.
  for (int v = 243; v <= 255; ++v) {
    const uint8_t bad[2] = {0, static_cast<uint8_t>(v)};
    Status st = sttn::core::UnpackTritsBase3(bad, 2, 8, out);
    CHECK(!st.ok() && std::strstr(st.message(), "at byte 1") != nullptr);
  }
  // A nonzero digit past the last trit (n = 3, digit 3 set) is rejected.
  const uint8_t dirty[1] = {27};
  Status st = sttn::core::UnpackTritsBase3(dirty, 1, 3, out);
  CHECK(!st.ok() &&
        std::strstr(st.message(), "unused base3 digits") != nullptr);
  CHECK(sttn::core::UnpackTritsBase3(dirty, 1, 4, out).ok() && out[3] == 1);
  const int8_t not_trit[1] = {2};
  CHECK(!sttn::core::PackTritsBase3(not_trit, 1, b).ok());
  // The dispatcher reads trit2 with the 2-bit code.
  const uint8_t two_bit[2] = {0x71, 0x03};
  CHECK(sttn::core::UnpackWeights(WeightEncoding::kTrit2, two_bit, 2, 5, out)
            .ok());
  CHECK(out[0] == 1 && out[1] == 0 && out[2] == -1 && out[3] == 1 &&
        out[4] == -1);
}

void TestComputePacking() {
  for (int c : {1, 3, 31, 32, 33, 64, 65}) {
    std::vector<int8_t> t = RandomTrits(static_cast<size_t>(3 * c));
    std::vector<int32_t> p = Pack(t, 3, c);
    std::vector<int8_t> back(t.size());
    sttn::core::UnpackTritsCompute(p.data(), 3, c, back.data());
    CHECK(back == t);
    for (int r = 0; r < 3; ++r) {
      for (int w = 0; w < sttn::core::PackedWidth(c); w += 2) {
        const uint32_t mask = static_cast<uint32_t>(p[r * sttn::core::PackedWidth(c) + w]);
        const uint32_t sign = static_cast<uint32_t>(p[r * sttn::core::PackedWidth(c) + w + 1]);
        CHECK((sign & ~mask) == 0);  // canonical
        const int valid = c - 16 * w;
        if (valid < 32) CHECK((mask >> valid) == 0);
      }
    }
  }
  // Channel 33 of 40 = block 1 bit 1.
  std::vector<int8_t> t(40, 0);
  t[33] = -1;
  std::vector<int32_t> p = Pack(t, 1, 40);
  CHECK(p[0] == 0 && p[1] == 0 && p[2] == 2 && p[3] == 2);
}

void TestTernarize() {
  for (int c : {1, 3, 31, 33, 65}) {
    const int rows = 4;
    std::vector<float> x = RandomFloats(static_cast<size_t>(rows * c));
    std::vector<float> th(3 * static_cast<size_t>(c));
    for (int i = 0; i < c; ++i) {
      th[i] = -0.5f;
      th[c + i] = 0.5f;
      th[2 * c + i] = (i % 3 == 0) ? -1.0f : 1.0f;
    }
    th[c] = 1.0f;  // lo > hi on channel 0 of... (channel 0 hi) -> exercises both
    x[0] = 0.5f;
    x[1 % x.size()] = std::nanf("");
    CHECK(sttn::core::ValidateThresholds(th.data(), c).ok());
    const size_t words = static_cast<size_t>(rows) * sttn::core::PackedWidth(c);
    std::vector<int32_t> a(words), b(words);
    sttn::core::TernarizeReference(x.data(), rows, c, th.data(), a.data());
    for (Isa isa : SupportedIsas()) {
      std::fill(b.begin(), b.end(), -1);
      sttn::core::TernarizeOptimized(x.data(), rows, c, th.data(), isa, b.data());
      CHECK_MSG(a == b, "ternarize c=%d isa=%s", c, sttn::core::IsaName(isa));
    }
    std::vector<int8_t> t(static_cast<size_t>(rows * c));
    sttn::core::UnpackTritsCompute(a.data(), rows, c, t.data());
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < c; ++i) {
        const float v = x[r * c + i];
        const int expect = static_cast<int>(th[2 * c + i]) *
                           ((v > th[c + i]) - (v < th[i]));
        CHECK(t[r * c + i] == expect);
      }
    }
  }
  // Many rows over threads (items of whole rows).
  {
    const int c = 37;
    const int64_t rows = 3001;
    std::vector<float> x = RandomFloats(static_cast<size_t>(rows * c));
    std::vector<float> th(3 * static_cast<size_t>(c));
    for (int i = 0; i < c; ++i) {
      th[i] = -0.3f;
      th[c + i] = 0.4f;
      th[2 * c + i] = (i % 2) ? -1.0f : 1.0f;
    }
    const size_t words = static_cast<size_t>(rows) * sttn::core::PackedWidth(c);
    std::vector<int32_t> a(words), b(words);
    sttn::core::TernarizeReference(x.data(), rows, c, th.data(), a.data());
    for (Isa isa : SupportedIsas()) {
      std::fill(b.begin(), b.end(), -1);
      sttn::core::TernarizeOptimized(x.data(), rows, c, th.data(), isa, b.data(), 3);
      CHECK_MSG(a == b, "ternarize threads isa=%s", sttn::core::IsaName(isa));
    }
  }
  float bad[3] = {-0.5f, 0.5f, 0.0f};
  CHECK(!sttn::core::ValidateThresholds(bad, 1).ok());
}

void TestOutputSize() {
  int out, pad;
  CHECK(sttn::core::ComputeOutputSize(7, 3, 2, Padding::kSame, &out, &pad).ok());
  CHECK(out == 4 && pad == 1);
  CHECK(sttn::core::ComputeOutputSize(6, 3, 2, Padding::kSame, &out, &pad).ok());
  CHECK(out == 3 && pad == 0);
  CHECK(sttn::core::ComputeOutputSize(7, 3, 2, Padding::kValid, &out, &pad).ok());
  CHECK(out == 3 && pad == 0);
  CHECK(!sttn::core::ComputeOutputSize(2, 3, 1, Padding::kValid, &out, &pad).ok());
  CHECK(!sttn::core::ComputeOutputSize(0, 1, 1, Padding::kSame, &out, &pad).ok());
  ConvShape s;
  CHECK(!sttn::core::ComputeConvShape(1, 4, 4, 3, 7, 1, 1, 1, 1, Padding::kSame,
                                      2, &s)
             .ok());  // 3 * 2 != 7
  CHECK(!sttn::core::ComputeConvShape(1, 65536, 65536, 64, 64, 1, 1, 1, 1,
                                      Padding::kSame, 0, &s)
             .ok());  // beyond int32 elements
}

// Direct formula for one conv output, independent of the kernels' loops.
int32_t DirectConv(const ConvShape& s, const std::vector<int8_t>& x,
                   const std::vector<int8_t>& w, int n, int oy, int ox, int o) {
  int32_t acc = 0;
  for (int ky = 0; ky < s.kernel_h; ++ky) {
    for (int kx = 0; kx < s.kernel_w; ++kx) {
      const int iy = oy * s.stride_h + ky - s.pad_top;
      const int ix = ox * s.stride_w + kx - s.pad_left;
      if (iy < 0 || ix < 0 || iy >= s.in_h || ix >= s.in_w) continue;
      for (int c = 0; c < s.in_c; ++c) {
        acc += x[((n * s.in_h + iy) * s.in_w + ix) * s.in_c + c] *
               w[((o * s.kernel_h + ky) * s.kernel_w + kx) * s.in_c + c];
      }
    }
  }
  return acc;
}

void TestConv2D() {
  for (int cin : {1, 3, 31, 33, 65}) {
    for (int k : {1, 3}) {
      for (int stride : {1, 2}) {
        for (Padding pad : {Padding::kSame, Padding::kValid}) {
          for (int batch : {1, 3}) {
            const int cout = 5, h = 7, w = 6;
            ConvShape s;
            CHECK(sttn::core::ComputeConvShape(batch, h, w, cin, cout, k, k,
                                               stride, stride, pad, 0, &s)
                      .ok());
            const Activation act =
                (cin + k) % 2 ? Activation::kRelu : Activation::kNone;
            std::vector<int8_t> x = RandomTrits(static_cast<size_t>(batch) * h * w * cin);
            std::vector<int8_t> wt = RandomTrits(static_cast<size_t>(cout) * k * k * cin);
            std::vector<float> scale = RandomFloats(cout), bias = RandomFloats(cout);
            std::vector<int32_t> xp = Pack(x, static_cast<int64_t>(batch) * h * w, cin);
            const size_t out_n = static_cast<size_t>(batch) * s.out_h * s.out_w * cout;
            std::vector<float> ref(out_n), opt(out_n), one(out_n);
            sttn::core::Conv2DTernaryReference(s, xp.data(), wt.data(), scale.data(),
                                               bias.data(), act, ref.data());
            for (Isa isa : SupportedIsas()) {
              for (int threads : {1, 3}) {
                std::vector<uint32_t> wp(sttn::core::TernaryGemmPackedWords(
                    isa, cout, k * k, cin));
                sttn::core::PackTernaryGemm(isa, wt.data(), cout, k * k, cin,
                                            scale.data(), bias.data(), wp.data());
                std::vector<unsigned char> scratch(
                    sttn::core::Conv2DTernaryGemmScratchBytes(isa, s));
                sttn::core::PrepareConv2DTernaryGemmScratch(isa, s, scratch.data());
                std::fill(opt.begin(), opt.end(), -1.0f);
                sttn::core::Conv2DTernaryGemm(isa, s, xp.data(), wp.data(), act,
                                              threads, scratch.data(), opt.data());
                CHECK_MSG(ref == opt, "conv ternary cin=%d k=%d s=%d isa=%s threads=%d",
                          cin, k, stride, sttn::core::IsaName(isa), threads);
              }
            }
            // Reference against the direct formula (scale 1, bias 0).
            std::vector<float> ones(cout, 1.0f), zeros(cout, 0.0f);
            sttn::core::Conv2DTernaryReference(s, xp.data(), wt.data(), ones.data(),
                                               zeros.data(), Activation::kNone,
                                               one.data());
            bool direct_ok = true;
            for (int n = 0; n < batch; ++n)
              for (int oy = 0; oy < s.out_h; ++oy)
                for (int ox = 0; ox < s.out_w; ++ox)
                  for (int o = 0; o < cout; ++o)
                    direct_ok &= one[((n * s.out_h + oy) * s.out_w + ox) * cout + o] ==
                                 static_cast<float>(DirectConv(s, x, wt, n, oy, ox, o));
            CHECK_MSG(direct_ok, "conv reference vs direct cin=%d k=%d", cin, k);
            // Float input: exact data, so reference == optimized bit for bit.
            std::vector<float> xf = ExactFloats(x.size());
            std::vector<float> wf(sttn::core::Conv2DFloatWeightCount(s));
            sttn::core::PrepareConv2DFloatWeights(s, wt.data(), wf.data());
            std::vector<float> ones2(cout, 1.0f);
            sttn::core::Conv2DFloatReference(s, xf.data(), wt.data(), ones2.data(),
                                             zeros.data(), act, ref.data());
            sttn::core::Conv2DFloatOptimized(s, xf.data(), wf.data(), ones2.data(),
                                             zeros.data(), act, opt.data());
            CHECK_MSG(ref == opt, "conv float cin=%d k=%d", cin, k);
          }
        }
      }
    }
  }
}

// Packed outputs of the GEMM (integer thresholds and float tiles) against
// reference conv -> reference ternarize, on random non-dyadic affines.
void TestConv2DPackedOutput() {
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int cout : {5, 16, 37}) {
    for (Activation act : {Activation::kNone, Activation::kRelu}) {
      const int cin = 40, batch = 2, h = 5, w = 6, k = 3;
      ConvShape s;
      CHECK(sttn::core::ComputeConvShape(batch, h, w, cin, cout, k, k, 1, 1,
                                         Padding::kSame, 0, &s)
                .ok());
      std::vector<int8_t> x = RandomTrits(static_cast<size_t>(batch) * h * w * cin);
      std::vector<int8_t> wt = RandomTrits(static_cast<size_t>(cout) * k * k * cin);
      std::vector<float> scale(cout), bias(cout), th(3 * static_cast<size_t>(cout));
      for (int o = 0; o < cout; ++o) {
        scale[o] = o == 0 ? 0.0f : 0.3f * normal(rng);
        bias[o] = 2.0f * normal(rng);
        th[o] = normal(rng) - 0.5f;
        th[cout + o] = th[o] + std::fabs(normal(rng));
        th[2 * cout + o] = (o % 3 == 0) ? -1.0f : 1.0f;
      }
      std::vector<int32_t> xp = Pack(x, static_cast<int64_t>(batch) * h * w, cin);
      const int64_t pixels = static_cast<int64_t>(batch) * s.out_h * s.out_w;
      std::vector<float> yref(static_cast<size_t>(pixels) * cout);
      sttn::core::Conv2DTernaryReference(s, xp.data(), wt.data(), scale.data(),
                                         bias.data(), act, yref.data());
      const size_t words = static_cast<size_t>(pixels) * sttn::core::PackedWidth(cout);
      std::vector<int32_t> expected(words), got(words);
      sttn::core::TernarizeReference(yref.data(), pixels, cout, th.data(),
                                     expected.data());
      for (Isa isa : SupportedIsas()) {
        std::vector<uint32_t> wp(sttn::core::TernaryGemmPackedWords(isa, cout, k * k, cin));
        sttn::core::PackTernaryGemm(isa, wt.data(), cout, k * k, cin, scale.data(),
                                    bias.data(), wp.data());
        std::vector<unsigned char> scratch(
            sttn::core::Conv2DTernaryGemmScratchBytes(isa, s, true));
        sttn::core::PrepareConv2DTernaryGemmScratch(isa, s, scratch.data(), true);
        std::vector<int32_t> int_th(sttn::core::TernaryGemmPackedOutputWords(isa, cout));
        CHECK(sttn::core::PrepareTernaryGemmPackedOutput(
            isa, cout, static_cast<int64_t>(k) * k * cin, scale.data(), bias.data(),
            act, th.data(), int_th.data()));
        for (bool integer : {true, false}) {
          sttn::core::PackedOutput po;
          po.thresholds = th.data();
          po.out = got.data();
          po.int_thresholds = integer ? int_th.data() : nullptr;
          std::fill(got.begin(), got.end(), -1);
          sttn::core::Conv2DTernaryGemm(isa, s, xp.data(), wp.data(), act, 2,
                                        scratch.data(), nullptr, &po);
          CHECK_MSG(got == expected, "packed conv cout=%d isa=%s integer=%d", cout,
                    sttn::core::IsaName(isa), static_cast<int>(integer));
        }
      }
    }
  }
}

void TestFullyConnected() {
  for (int cin : {1, 3, 31, 33, 65, 100}) {
    for (int rows : {1, 3}) {
      const int cout = 7;
      FullyConnectedShape s;
      CHECK(sttn::core::ComputeFullyConnectedShape(rows, cin, cout, &s).ok());
      std::vector<int8_t> x = RandomTrits(static_cast<size_t>(rows) * cin);
      std::vector<int8_t> wt = RandomTrits(static_cast<size_t>(cout) * cin);
      std::vector<float> scale = RandomFloats(cout), bias = RandomFloats(cout);
      std::vector<int32_t> xp = Pack(x, rows, cin);
      std::vector<float> ref(static_cast<size_t>(rows) * cout), opt(ref.size());
      sttn::core::FullyConnectedTernaryReference(s, xp.data(), wt.data(), scale.data(),
                                                 bias.data(), Activation::kRelu,
                                                 ref.data());
      for (Isa isa : SupportedIsas()) {
        std::vector<uint32_t> wp(sttn::core::TernaryGemmPackedWords(isa, cout, 1, cin));
        sttn::core::PackTernaryGemm(isa, wt.data(), cout, 1, cin, scale.data(),
                                    bias.data(), wp.data());
        std::vector<unsigned char> scratch(
            sttn::core::FullyConnectedTernaryGemmScratchBytes(isa, s));
        sttn::core::PrepareFullyConnectedTernaryGemmScratch(isa, s, scratch.data());
        std::fill(opt.begin(), opt.end(), -1.0f);
        sttn::core::FullyConnectedTernaryGemm(isa, s, xp.data(), wp.data(),
                                              Activation::kRelu, 2, scratch.data(),
                                              opt.data());
        CHECK_MSG(ref == opt, "fc cin=%d rows=%d isa=%s", cin, rows,
                  sttn::core::IsaName(isa));
      }
      for (int r = 0; r < rows; ++r) {
        for (int o = 0; o < cout; ++o) {
          int32_t acc = 0;
          for (int c = 0; c < cin; ++c) acc += x[r * cin + c] * wt[o * cin + c];
          const float y = std::fmax(scale[o] * static_cast<float>(acc) + bias[o], 0.0f);
          CHECK(ref[r * cout + o] == y);
        }
      }
      std::vector<float> xf = ExactFloats(x.size());
      std::vector<float> wf(static_cast<size_t>(cout) * cin);
      sttn::core::PrepareFullyConnectedFloatWeights(s, wt.data(), wf.data());
      std::vector<float> ones(cout, 1.0f), zeros(cout, 0.0f);
      sttn::core::FullyConnectedFloatReference(s, xf.data(), wt.data(), ones.data(),
                                               zeros.data(), Activation::kNone,
                                               ref.data());
      sttn::core::FullyConnectedFloatOptimized(s, xf.data(), wf.data(), ones.data(),
                                               zeros.data(), Activation::kNone,
                                               opt.data());
      CHECK(ref == opt);
    }
  }
}

void TestDepthwise() {
  for (int cin : {1, 3, 31, 33, 65}) {
    for (int mult : {1, 2}) {
      for (int k : {1, 3}) {
        for (int stride : {1, 2}) {
          for (Padding pad : {Padding::kSame, Padding::kValid}) {
            const int batch = 2, h = 6, w = 5, cout = cin * mult;
            ConvShape s;
            CHECK(sttn::core::ComputeConvShape(batch, h, w, cin, cout, k, k, stride,
                                               stride, pad, mult, &s)
                      .ok());
            std::vector<int8_t> x = RandomTrits(static_cast<size_t>(batch) * h * w * cin);
            std::vector<int8_t> wt = RandomTrits(static_cast<size_t>(k) * k * cout);
            std::vector<float> scale = RandomFloats(cout), bias = RandomFloats(cout);
            std::vector<int32_t> xp = Pack(x, static_cast<int64_t>(batch) * h * w, cin);
            const size_t out_n = static_cast<size_t>(batch) * s.out_h * s.out_w * cout;
            std::vector<float> ref(out_n), opt(out_n);
            std::vector<unsigned char> scratch(sttn::core::DepthwiseTernaryScratchBytes(s));
            sttn::core::PrepareDepthwiseTernaryScratch(s, scratch.data());
            std::vector<unsigned char> prepared(sttn::core::DepthwiseTernaryPreparedBytes(s));
            sttn::core::PrepareDepthwiseTernary(s, wt.data(), scale.data(), bias.data(),
                                                Activation::kNone, nullptr,
                                                prepared.data());
            sttn::core::DepthwiseConv2DTernaryReference(
                s, xp.data(), wt.data(), scale.data(), bias.data(), Activation::kNone,
                ref.data());
            for (Isa isa : SupportedIsas()) {
              std::fill(opt.begin(), opt.end(), -1.0f);
              sttn::core::DepthwiseConv2DTernaryOptimized(
                  s, xp.data(), prepared.data(), Activation::kNone, isa, 3,
                  scratch.data(), opt.data(), nullptr);
              CHECK_MSG(ref == opt, "depthwise ternary cin=%d m=%d k=%d isa=%s", cin,
                        mult, k, sttn::core::IsaName(isa));
            }
            // Packed output from the int8/int32 accumulators.
            {
              std::vector<float> th(3 * static_cast<size_t>(cout));
              for (int o = 0; o < cout; ++o) {
                th[o] = -0.4f * static_cast<float>(o % 5);
                th[cout + o] = th[o] + 0.3f * static_cast<float>(o % 7);
                th[2 * cout + o] = (o % 2) ? -1.0f : 1.0f;
              }
              const Activation act = k == 3 ? Activation::kRelu : Activation::kNone;
              sttn::core::DepthwiseConv2DTernaryReference(
                  s, xp.data(), wt.data(), scale.data(), bias.data(), act, ref.data());
              const int64_t pixels = static_cast<int64_t>(batch) * s.out_h * s.out_w;
              const size_t words =
                  static_cast<size_t>(pixels) * sttn::core::PackedWidth(cout);
              std::vector<int32_t> expected(words), got(words);
              sttn::core::TernarizeReference(ref.data(), pixels, cout, th.data(),
                                             expected.data());
              std::vector<unsigned char> prep2(
                  sttn::core::DepthwiseTernaryPreparedBytes(s));
              CHECK(sttn::core::PrepareDepthwiseTernary(s, wt.data(), scale.data(),
                                                        bias.data(), act, th.data(),
                                                        prep2.data()));
              for (Isa isa : SupportedIsas()) {
                std::fill(got.begin(), got.end(), -1);
                sttn::core::DepthwiseConv2DTernaryOptimized(
                    s, xp.data(), prep2.data(), act, isa, 2, scratch.data(), nullptr,
                    got.data());
                CHECK_MSG(got == expected, "depthwise packed cin=%d m=%d k=%d isa=%s",
                          cin, mult, k, sttn::core::IsaName(isa));
              }
            }
            std::vector<float> xf = ExactFloats(x.size());
            std::vector<float> wf(static_cast<size_t>(k) * k * cout);
            sttn::core::PrepareDepthwiseFloatWeights(s, wt.data(), wf.data());
            std::vector<float> ones(cout, 1.0f), zeros(cout, 0.0f);
            sttn::core::DepthwiseConv2DFloatReference(s, xf.data(), wt.data(),
                                                      ones.data(), zeros.data(),
                                                      Activation::kRelu, ref.data());
            for (Isa isa : SupportedIsas()) {
              std::fill(opt.begin(), opt.end(), -1.0f);
              sttn::core::DepthwiseConv2DFloatOptimized(
                  s, xf.data(), wf.data(), ones.data(), zeros.data(),
                  Activation::kRelu, isa, opt.data());
              CHECK_MSG(ref == opt, "depthwise float cin=%d m=%d k=%d isa=%s", cin,
                        mult, k, sttn::core::IsaName(isa));
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// FlexBuffer map reader: a hand-assembled valid map, then every truncation
// and many random mutations of it (sanitizers catch any stray read).
std::vector<uint8_t> SampleMap() {
  // {"a": 7 (int), "b": "VALID" (string)}; 1-byte widths throughout.
  std::vector<uint8_t> b;
  const size_t key_a = b.size();
  b.insert(b.end(), {'a', 0});
  const size_t key_b = b.size();
  b.insert(b.end(), {'b', 0});
  b.push_back(5);  // string length prefix
  const size_t str = b.size();
  b.insert(b.end(), {'V', 'A', 'L', 'I', 'D', 0});
  b.push_back(2);  // keys vector length
  const size_t keys = b.size();
  b.push_back(static_cast<uint8_t>(keys - key_a));
  b.push_back(static_cast<uint8_t>(keys + 1 - key_b));
  // Map header: keys offset, keys byte width, length; then values, types.
  const size_t keys_off_pos = b.size();
  b.push_back(static_cast<uint8_t>(keys_off_pos - keys));
  b.push_back(1);
  b.push_back(2);
  const size_t map = b.size();
  b.push_back(7);
  b.push_back(static_cast<uint8_t>(map + 1 - str));
  b.push_back(static_cast<uint8_t>(1 << 2));  // int, width 1
  b.push_back(static_cast<uint8_t>(5 << 2));  // string, width 1
  const size_t root = b.size();
  b.push_back(static_cast<uint8_t>(root - map));
  b.push_back(static_cast<uint8_t>(9 << 2));  // map, width 1
  b.push_back(1);                             // root byte width
  return b;
}

void TestFlexbufferReader() {
  const std::vector<uint8_t> good = SampleMap();
  sttn::flex::MapReader m;
  char err[256];
  CHECK_MSG(m.Parse(good.data(), good.size(), err, sizeof(err)), "%s", err);
  CHECK(m.size() == 2);
  const sttn::flex::Value* a = m.Find("a");
  const sttn::flex::Value* b = m.Find("b");
  CHECK(a != nullptr && a->kind == sttn::flex::Value::kInt && a->i == 7);
  CHECK(b != nullptr && b->kind == sttn::flex::Value::kString &&
        std::string(b->s) == "VALID" && b->s_len == 5);
  CHECK(m.Find("c") == nullptr);
  for (size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<uint8_t> t(good.begin(), good.begin() + cut);
    sttn::flex::MapReader r;
    r.Parse(t.empty() ? nullptr : t.data(), t.size(), err, sizeof(err));
  }
  std::uniform_int_distribution<int> byte(0, 255);
  int rejected = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> t = good;
    const int edits = 1 + trial % 3;
    for (int e = 0; e < edits; ++e) {
      t[static_cast<size_t>(g_rng() % t.size())] = static_cast<uint8_t>(byte(g_rng));
    }
    sttn::flex::MapReader r;
    if (!r.Parse(t.data(), t.size(), err, sizeof(err))) {
      ++rejected;
      continue;
    }
    for (int i = 0; i < r.size(); ++i) {
      const sttn::flex::Value& v = r.value(i);
      if (v.kind == sttn::flex::Value::kString) {
        // In bounds and NUL-terminated at s_len (embedded NULs are legal).
        const uint8_t* p = reinterpret_cast<const uint8_t*>(v.s);
        CHECK(p >= t.data() && p + v.s_len < t.data() + t.size());
        CHECK(v.s[v.s_len] == '\0');
      }
      CHECK(std::strlen(r.key(i)) < t.size());
    }
  }
  CHECK(rejected > 1000);
}

}  // namespace

int main() {
  TestFilePacking();
  TestBase3Packing();
  TestComputePacking();
  TestTernarize();
  TestOutputSize();
  TestConv2D();
  TestConv2DPackedOutput();
  TestFullyConnected();
  TestDepthwise();
  TestFlexbufferReader();
  std::string paths;
  for (Isa isa : SupportedIsas()) {
    paths += paths.empty() ? "" : ",";
    paths += sttn::core::IsaName(isa);
  }
  std::printf("core_test: %d checks, %d failures (ISA paths: %s)\n", g_checks,
              g_failures, paths.c_str());
  return g_failures == 0 ? 0 : 1;
}
