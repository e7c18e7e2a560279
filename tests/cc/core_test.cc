// GoogleTest unit test of the TFLite-free core (export/core) and of the
// FlexBuffer map reader (export/tflite/flexbuffer_map.cc, also TFLite-free).
// Run by `bazel test //:core_test` (BUILD) and by tests/test_core_cc.py: with
// -fsanitize=address,undefined, and cross-compiled for aarch64 under qemu.
//
// Every optimized kernel is compared with the reference kernel on random data
// over a shape grid, once per ISA path this build and CPU run (the IsaTest
// suites are instantiated over them: on x86-64 portable, popcnt, avx2, avx512
// as available; on aarch64 portable, neon). The reference kernels are checked
// against an independent direct formula on a few hand-made cases.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
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

using sttn::core::Activation;
using sttn::core::ConvShape;
using sttn::core::FullyConnectedShape;
using sttn::core::GemmMethod;
using sttn::core::Isa;
using sttn::core::Padding;
using sttn::core::Status;

// Every ISA path of this build that the CPU runs.
std::vector<Isa> SupportedIsas() {
  std::vector<Isa> out;
  for (int i = 0; i < sttn::core::kNumIsas; ++i) {
    if (sttn::core::IsaSupported(static_cast<Isa>(i)))
      out.push_back(static_cast<Isa>(i));
  }
  return out;
}

// The GEMM methods `isa` can run for a layer: the popcount kernels always,
// the table kernels where it has them and the layer's tables fit.
std::vector<GemmMethod> Methods(Isa isa, int cout, int taps, int cin) {
  std::vector<GemmMethod> out{GemmMethod::kPopcount};
  if (sttn::core::ResolveGemmMethod(isa, cout, taps, cin, GemmMethod::kTable) ==
      GemmMethod::kTable) {
    out.push_back(GemmMethod::kTable);
  }
  return out;
}

std::string MethodName(GemmMethod m) {
  return m == GemmMethod::kTable ? " table" : " popcount";
}

// The parameter of the per-ISA suites: test names end in /portable, /avx2...
class IsaTest : public ::testing::TestWithParam<Isa> {};

std::string IsaParamName(const ::testing::TestParamInfo<Isa>& info) {
  return sttn::core::IsaName(info.param);
}

INSTANTIATE_TEST_SUITE_P(Isas, IsaTest, ::testing::ValuesIn(SupportedIsas()),
                         IsaParamName);

::testing::AssertionResult IsOk(const Status& st) {
  if (st.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "status: " << st.message();
}

::testing::AssertionResult FailsWith(const Status& st, const char* text) {
  if (st.ok()) return ::testing::AssertionFailure() << "status is OK";
  if (std::strstr(st.message(), text) == nullptr) {
    return ::testing::AssertionFailure()
           << "message \"" << st.message() << "\" lacks \"" << text << "\"";
  }
  return ::testing::AssertionSuccess();
}

// Element-wise ==, naming the first difference (not the whole arrays).
template <typename T>
::testing::AssertionResult Identical(const std::vector<T>& expected,
                                     const std::vector<T>& got) {
  if (expected.size() != got.size()) {
    return ::testing::AssertionFailure()
           << "sizes differ: " << expected.size() << " vs " << got.size();
  }
  size_t differ = 0, first = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    if (!(expected[i] == got[i])) {
      if (differ++ == 0) first = i;
    }
  }
  if (differ == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << differ << " of " << expected.size()
         << " elements differ; first at [" << first << "]: expected "
         << +expected[first] << ", got " << +got[first];
}

std::vector<int8_t> RandomTrits(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> d(-1, 1);
  std::vector<int8_t> t(n);
  for (auto& v : t) v = static_cast<int8_t>(d(rng));
  return t;
}

std::vector<float> RandomFloats(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Quarter-step floats: every sum we form is exact in float32.
std::vector<float> ExactFloats(std::mt19937& rng, size_t n) {
  std::uniform_int_distribution<int> d(-8, 8);
  std::vector<float> v(n);
  for (auto& x : v) x = static_cast<float>(d(rng)) / 4.0f;
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
// Packing.

TEST(Packing, FileFormatRoundTripsAndRejectsBadInput) {
  std::mt19937 rng(1234);
  for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 33, 1000}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    std::vector<int8_t> t = RandomTrits(rng, static_cast<size_t>(n));
    std::vector<uint8_t> buf(
        static_cast<size_t>(sttn::core::FilePackedBytes(n)) + 1);
    EXPECT_TRUE(IsOk(sttn::core::PackTritsFile(t.data(), n, buf.data())));
    std::vector<int8_t> back(static_cast<size_t>(n) + 1, 42);
    EXPECT_TRUE(IsOk(sttn::core::UnpackTritsFile(buf.data(), buf.size() - 1, n,
                                                 back.data())));
    back.resize(static_cast<size_t>(n));
    EXPECT_TRUE(Identical(t, back));
    // Wrong byte counts.
    EXPECT_FALSE(
        sttn::core::UnpackTritsFile(buf.data(), buf.size(), n, back.data())
            .ok());
  }
  // Codes: +1 = 0b01, -1 = 0b11, 0 = 0b00, little-endian within the byte.
  const int8_t t[5] = {1, 0, -1, 1, -1};
  uint8_t b[2];
  EXPECT_TRUE(IsOk(sttn::core::PackTritsFile(t, 5, b)));
  EXPECT_EQ(b[0], 0x71);
  EXPECT_EQ(b[1], 0x03);
  int8_t out[8];
  const uint8_t invalid[1] = {0x08};  // trit 1 = 0b10
  EXPECT_TRUE(FailsWith(sttn::core::UnpackTritsFile(invalid, 1, 4, out),
                        "0b10 at trit 1"));
  const uint8_t dirty[1] = {0x40};  // trit 3 set, but n = 3
  EXPECT_TRUE(
      FailsWith(sttn::core::UnpackTritsFile(dirty, 1, 3, out), "unused bits"));
  const int8_t not_trit[1] = {2};
  EXPECT_FALSE(sttn::core::PackTritsFile(not_trit, 1, b).ok());
}

// Base-3 weight packing (op format v2, "base3"): 5 trits per byte.
TEST(Packing, Base3RoundTripsAndRejectsBadInput) {
  using sttn::core::WeightEncoding;
  std::mt19937 rng(1234);
  for (int64_t n : {0, 1, 4, 5, 6, 9, 10, 11, 33, 1000, 1003}) {
    SCOPED_TRACE("n=" + std::to_string(n));
    std::vector<int8_t> t = RandomTrits(rng, static_cast<size_t>(n));
    const int64_t bytes = sttn::core::Base3PackedBytes(n);
    EXPECT_EQ(bytes, (n + 4) / 5);
    EXPECT_EQ(sttn::core::WeightBytes(WeightEncoding::kBase3, n), bytes);
    EXPECT_EQ(sttn::core::WeightBytes(WeightEncoding::kTrit2, n),
              sttn::core::FilePackedBytes(n));
    std::vector<uint8_t> buf(static_cast<size_t>(bytes) + 1, 0);
    EXPECT_TRUE(IsOk(sttn::core::PackTritsBase3(t.data(), n, buf.data())));
    for (int64_t b = 0; b < bytes; ++b) {
      EXPECT_LE(buf[static_cast<size_t>(b)], 242) << "byte " << b;
    }
    std::vector<int8_t> back(static_cast<size_t>(n) + 1, 42);
    EXPECT_TRUE(IsOk(
        sttn::core::UnpackWeights(WeightEncoding::kBase3, buf.data(),
                                  static_cast<size_t>(bytes), n, back.data())));
    EXPECT_EQ(back[static_cast<size_t>(n)], 42);  // writes exactly n trits
    back.resize(static_cast<size_t>(n));
    EXPECT_TRUE(Identical(t, back));
    // Wrong byte counts, both ways.
    EXPECT_FALSE(sttn::core::UnpackTritsBase3(
                     buf.data(), static_cast<size_t>(bytes) + 1, n, back.data())
                     .ok());
    if (n > 0) {
      EXPECT_FALSE(sttn::core::UnpackTritsBase3(buf.data(),
                                                static_cast<size_t>(bytes) - 1,
                                                n, back.data())
                       .ok());
    }
  }
  // Digits: trit i is digit i (least significant first); 0 -> 0, 1 -> +1,
  // 2 -> -1. {1, -1, 0, 1, -1} = 1 + 2*3 + 0*9 + 1*27 + 2*81 = 196.
  const int8_t t[6] = {1, -1, 0, 1, -1, 1};
  uint8_t b[2];
  EXPECT_TRUE(IsOk(sttn::core::PackTritsBase3(t, 6, b)));
  EXPECT_EQ(b[0], 196);
  EXPECT_EQ(b[1], 1);
  // Every valid byte decodes to the digits of its value.
  for (int v = 0; v <= 242; ++v) {
    const uint8_t byte = static_cast<uint8_t>(v);
    int8_t out5[5];
    EXPECT_TRUE(IsOk(sttn::core::UnpackTritsBase3(&byte, 1, 5, out5))) << v;
    int rest = v;
    for (int i = 0; i < 5; ++i) {
      const int digit = rest % 3;
      rest /= 3;
      EXPECT_EQ(out5[i], digit == 0   ? 0
                         : digit == 1 ? 1
                                      : -1)
          << "byte " << v << " digit " << i;
    }
  }
  int8_t out[8];
  // Bytes 243..255 are invalid, with the byte named.
  for (int v = 243; v <= 255; ++v) {
    const uint8_t bad[2] = {0, static_cast<uint8_t>(v)};
    EXPECT_TRUE(
        FailsWith(sttn::core::UnpackTritsBase3(bad, 2, 8, out), "at byte 1"))
        << v;
  }
  // A nonzero digit past the last trit (n = 3, digit 3 set) is rejected.
  const uint8_t dirty[1] = {27};
  EXPECT_TRUE(FailsWith(sttn::core::UnpackTritsBase3(dirty, 1, 3, out),
                        "unused base3 digits"));
  EXPECT_TRUE(IsOk(sttn::core::UnpackTritsBase3(dirty, 1, 4, out)));
  EXPECT_EQ(out[3], 1);
  const int8_t not_trit[1] = {2};
  EXPECT_FALSE(sttn::core::PackTritsBase3(not_trit, 1, b).ok());
  // The dispatcher reads trit2 with the 2-bit code.
  const uint8_t two_bit[2] = {0x71, 0x03};
  EXPECT_TRUE(IsOk(
      sttn::core::UnpackWeights(WeightEncoding::kTrit2, two_bit, 2, 5, out)));
  EXPECT_TRUE(Identical(std::vector<int8_t>{1, 0, -1, 1, -1},
                        std::vector<int8_t>(out, out + 5)));
}

TEST(Packing, ComputeLayoutIsCanonical) {
  std::mt19937 rng(1234);
  for (int c : {1, 3, 31, 32, 33, 64, 65}) {
    SCOPED_TRACE("c=" + std::to_string(c));
    std::vector<int8_t> t = RandomTrits(rng, static_cast<size_t>(3 * c));
    std::vector<int32_t> p = Pack(t, 3, c);
    std::vector<int8_t> back(t.size());
    sttn::core::UnpackTritsCompute(p.data(), 3, c, back.data());
    EXPECT_TRUE(Identical(t, back));
    const int width = sttn::core::PackedWidth(c);
    for (int r = 0; r < 3; ++r) {
      for (int w = 0; w < width; w += 2) {
        const uint32_t mask = static_cast<uint32_t>(p[r * width + w]);
        const uint32_t sign = static_cast<uint32_t>(p[r * width + w + 1]);
        EXPECT_EQ(sign & ~mask, 0u)
            << "row " << r << " word " << w;  // canonical
        const int valid = c - 16 * w;
        if (valid < 32) {
          EXPECT_EQ(mask >> valid, 0u) << "row " << r << " word " << w;
        }
      }
    }
  }
  // Channel 33 of 40 = block 1 bit 1.
  std::vector<int8_t> t(40, 0);
  t[33] = -1;
  EXPECT_TRUE(Identical(std::vector<int32_t>{0, 0, 2, 2}, Pack(t, 1, 40)));
}

// ---------------------------------------------------------------------------
// Ternarize.

std::vector<float> TernarizeThresholds(int c) {
  std::vector<float> th(3 * static_cast<size_t>(c));
  for (int i = 0; i < c; ++i) {
    th[i] = -0.5f;
    th[c + i] = 0.5f;
    th[2 * c + i] = (i % 3 == 0) ? -1.0f : 1.0f;
  }
  th[c] = 1.0f;  // channel 0's hi threshold moved up: exercises both sides
  return th;
}

std::vector<float> TernarizeInput(int rows, int c) {
  std::mt19937 rng(1000 + c);
  std::vector<float> x = RandomFloats(rng, static_cast<size_t>(rows * c));
  x[0] = 0.5f;
  x[1 % x.size()] = std::nanf("");
  return x;
}

TEST(Ternarize, ReferenceMatchesTheFormula) {
  for (int c : {1, 3, 31, 33, 65}) {
    SCOPED_TRACE("c=" + std::to_string(c));
    const int rows = 4;
    const std::vector<float> x = TernarizeInput(rows, c);
    const std::vector<float> th = TernarizeThresholds(c);
    EXPECT_TRUE(IsOk(sttn::core::ValidateThresholds(th.data(), c)));
    std::vector<int32_t> a(static_cast<size_t>(rows) *
                           sttn::core::PackedWidth(c));
    sttn::core::TernarizeReference(x.data(), rows, c, th.data(), a.data());
    std::vector<int8_t> t(static_cast<size_t>(rows * c));
    sttn::core::UnpackTritsCompute(a.data(), rows, c, t.data());
    for (int r = 0; r < rows; ++r) {
      for (int i = 0; i < c; ++i) {
        const float v = x[r * c + i];
        const int expect =
            static_cast<int>(th[2 * c + i]) * ((v > th[c + i]) - (v < th[i]));
        EXPECT_EQ(t[r * c + i], expect) << "row " << r << " channel " << i;
      }
    }
  }
  float bad[3] = {-0.5f, 0.5f, 0.0f};
  EXPECT_FALSE(sttn::core::ValidateThresholds(bad, 1).ok());
}

TEST_P(IsaTest, TernarizeMatchesReference) {
  const Isa isa = GetParam();
  // 32, 96: whole blocks only; 16, 40, 100: a last block of whole 4-channel
  // groups; 2081: more blocks than the NEON path keeps its sign words for on
  // the stack.
  for (int c : {1, 3, 16, 31, 32, 33, 40, 65, 96, 100, 2081}) {
    const int rows = 4;
    const std::vector<float> x = TernarizeInput(rows, c);
    const std::vector<float> th = TernarizeThresholds(c);
    const size_t words = static_cast<size_t>(rows) * sttn::core::PackedWidth(c);
    std::vector<int32_t> a(words), b(words, -1);
    sttn::core::TernarizeReference(x.data(), rows, c, th.data(), a.data());
    sttn::core::TernarizeOptimized(x.data(), rows, c, th.data(), isa, b.data());
    EXPECT_TRUE(Identical(a, b)) << "ternarize c=" << c;
  }
  // Many rows over threads (items of whole rows).
  const int c = 37;
  const int64_t rows = 3001;
  std::mt19937 rng(37);
  std::vector<float> x = RandomFloats(rng, static_cast<size_t>(rows * c));
  std::vector<float> th(3 * static_cast<size_t>(c));
  for (int i = 0; i < c; ++i) {
    th[i] = -0.3f;
    th[c + i] = 0.4f;
    th[2 * c + i] = (i % 2) ? -1.0f : 1.0f;
  }
  const size_t words = static_cast<size_t>(rows) * sttn::core::PackedWidth(c);
  std::vector<int32_t> a(words), b(words, -1);
  sttn::core::TernarizeReference(x.data(), rows, c, th.data(), a.data());
  sttn::core::TernarizeOptimized(x.data(), rows, c, th.data(), isa, b.data(),
                                 3);
  EXPECT_TRUE(Identical(a, b)) << "ternarize over 3 threads";
}

// ---------------------------------------------------------------------------
// Output sizes and shapes.

TEST(Shapes, OutputSizeAndConvShape) {
  int out, pad;
  EXPECT_TRUE(
      IsOk(sttn::core::ComputeOutputSize(7, 3, 2, Padding::kSame, &out, &pad)));
  EXPECT_EQ(out, 4);
  EXPECT_EQ(pad, 1);
  EXPECT_TRUE(
      IsOk(sttn::core::ComputeOutputSize(6, 3, 2, Padding::kSame, &out, &pad)));
  EXPECT_EQ(out, 3);
  EXPECT_EQ(pad, 0);
  EXPECT_TRUE(IsOk(
      sttn::core::ComputeOutputSize(7, 3, 2, Padding::kValid, &out, &pad)));
  EXPECT_EQ(out, 3);
  EXPECT_EQ(pad, 0);
  EXPECT_FALSE(
      sttn::core::ComputeOutputSize(2, 3, 1, Padding::kValid, &out, &pad).ok());
  EXPECT_FALSE(
      sttn::core::ComputeOutputSize(0, 1, 1, Padding::kSame, &out, &pad).ok());
  ConvShape s;
  EXPECT_FALSE(sttn::core::ComputeConvShape(1, 4, 4, 3, 7, 1, 1, 1, 1,
                                            Padding::kSame, 2, &s)
                   .ok());  // 3 * 2 != 7
  EXPECT_FALSE(sttn::core::ComputeConvShape(1, 65536, 65536, 64, 64, 1, 1, 1, 1,
                                            Padding::kSame, 0, &s)
                   .ok());  // beyond int32 elements
}

// ---------------------------------------------------------------------------
// Conv2D.

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

// One point of the conv grid, with its random data (seeded by the point, so
// every test and ISA sees the same data).
struct ConvCase {
  int cin, k, stride, batch;
  Padding pad;
  int cout = 5, h = 7, w = 6;
  ConvShape s;
  Activation act;
  std::vector<int8_t> x, wt;
  std::vector<float> scale, bias;
  std::vector<int32_t> xp;

  std::string Name() const {
    return "cin=" + std::to_string(cin) + " k=" + std::to_string(k) +
           " stride=" + std::to_string(stride) +
           " pad=" + (pad == Padding::kSame ? "same" : "valid") +
           " batch=" + std::to_string(batch);
  }
  size_t OutCount() const {
    return static_cast<size_t>(batch) * s.out_h * s.out_w * cout;
  }
};

std::vector<ConvCase> ConvGrid() {
  std::vector<ConvCase> grid;
  for (int cin : {1, 3, 31, 33, 65}) {
    for (int k : {1, 3}) {
      for (int stride : {1, 2}) {
        for (Padding pad : {Padding::kSame, Padding::kValid}) {
          for (int batch : {1, 3}) {
            ConvCase c;
            c.cin = cin;
            c.k = k;
            c.stride = stride;
            c.pad = pad;
            c.batch = batch;
            EXPECT_TRUE(IsOk(
                sttn::core::ComputeConvShape(batch, c.h, c.w, cin, c.cout, k, k,
                                             stride, stride, pad, 0, &c.s)))
                << c.Name();
            c.act = (cin + k) % 2 ? Activation::kRelu : Activation::kNone;
            std::mt19937 rng(static_cast<unsigned>(grid.size()));
            c.x =
                RandomTrits(rng, static_cast<size_t>(batch) * c.h * c.w * cin);
            c.wt = RandomTrits(rng, static_cast<size_t>(c.cout) * k * k * cin);
            c.scale = RandomFloats(rng, c.cout);
            c.bias = RandomFloats(rng, c.cout);
            c.xp = Pack(c.x, static_cast<int64_t>(batch) * c.h * c.w, cin);
            grid.push_back(std::move(c));
          }
        }
      }
    }
  }
  return grid;
}

TEST(Conv2D, ReferenceMatchesTheDirectFormula) {
  for (const ConvCase& c : ConvGrid()) {
    const ConvShape& s = c.s;
    std::vector<float> ones(c.cout, 1.0f), zeros(c.cout, 0.0f),
        one(c.OutCount());
    sttn::core::Conv2DTernaryReference(s, c.xp.data(), c.wt.data(), ones.data(),
                                       zeros.data(), Activation::kNone,
                                       one.data());
    std::vector<float> direct(one.size());
    for (int n = 0; n < c.batch; ++n)
      for (int oy = 0; oy < s.out_h; ++oy)
        for (int ox = 0; ox < s.out_w; ++ox)
          for (int o = 0; o < c.cout; ++o)
            direct[((n * s.out_h + oy) * s.out_w + ox) * c.cout + o] =
                static_cast<float>(DirectConv(s, c.x, c.wt, n, oy, ox, o));
    EXPECT_TRUE(Identical(direct, one))
        << "conv reference vs direct " << c.Name();
  }
}

TEST(Conv2D, FloatInputOptimizedMatchesReference) {
  for (const ConvCase& c : ConvGrid()) {
    // Exact data, so reference == optimized bit for bit.
    std::mt19937 rng(static_cast<unsigned>(c.cin * 100 + c.k));
    std::vector<float> xf = ExactFloats(rng, c.x.size());
    std::vector<float> wf(sttn::core::Conv2DFloatWeightCount(c.s));
    sttn::core::PrepareConv2DFloatWeights(c.s, c.wt.data(), wf.data());
    std::vector<float> ones(c.cout, 1.0f), zeros(c.cout, 0.0f);
    std::vector<float> ref(c.OutCount()), opt(c.OutCount());
    sttn::core::Conv2DFloatReference(c.s, xf.data(), c.wt.data(), ones.data(),
                                     zeros.data(), c.act, ref.data());
    sttn::core::Conv2DFloatOptimized(c.s, xf.data(), wf.data(), ones.data(),
                                     zeros.data(), c.act, opt.data());
    EXPECT_TRUE(Identical(ref, opt)) << "conv float " << c.Name();
  }
}

TEST_P(IsaTest, Conv2DTernaryMatchesReference) {
  const Isa isa = GetParam();
  for (const ConvCase& c : ConvGrid()) {
    std::vector<float> ref(c.OutCount()), opt(c.OutCount());
    sttn::core::Conv2DTernaryReference(c.s, c.xp.data(), c.wt.data(),
                                       c.scale.data(), c.bias.data(), c.act,
                                       ref.data());
    for (GemmMethod method : Methods(isa, c.cout, c.k * c.k, c.cin)) {
      for (int threads : {1, 3}) {
        std::vector<uint32_t> wp(sttn::core::TernaryGemmPackedWords(
            isa, c.cout, c.k * c.k, c.cin, method));
        sttn::core::PackTernaryGemm(isa, c.wt.data(), c.cout, c.k * c.k, c.cin,
                                    c.scale.data(), c.bias.data(), wp.data(),
                                    method);
        std::vector<unsigned char> scratch(
            sttn::core::Conv2DTernaryGemmScratchBytes(isa, c.s));
        sttn::core::PrepareConv2DTernaryGemmScratch(isa, c.s, scratch.data());
        std::fill(opt.begin(), opt.end(), -1.0f);
        sttn::core::Conv2DTernaryGemm(isa, c.s, c.xp.data(), wp.data(), c.act,
                                      threads, scratch.data(), opt.data());
        EXPECT_TRUE(Identical(ref, opt))
            << "conv ternary " << c.Name() << MethodName(method)
            << " threads=" << threads;
      }
    }
  }
}

// Packed outputs of the GEMM (integer thresholds and float tiles) against
// reference conv -> reference ternarize, on random non-dyadic affines.
TEST_P(IsaTest, Conv2DPackedOutputMatchesReference) {
  const Isa isa = GetParam();
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (int cout : {5, 16, 37}) {
    for (Activation act : {Activation::kNone, Activation::kRelu}) {
      const int cin = 40, batch = 2, h = 5, w = 6, k = 3;
      ConvShape s;
      ASSERT_TRUE(IsOk(sttn::core::ComputeConvShape(
          batch, h, w, cin, cout, k, k, 1, 1, Padding::kSame, 0, &s)));
      std::vector<int8_t> x =
          RandomTrits(rng, static_cast<size_t>(batch) * h * w * cin);
      std::vector<int8_t> wt =
          RandomTrits(rng, static_cast<size_t>(cout) * k * k * cin);
      std::vector<float> scale(cout), bias(cout),
          th(3 * static_cast<size_t>(cout));
      for (int o = 0; o < cout; ++o) {
        scale[o] = o == 0 ? 0.0f : 0.3f * normal(rng);
        bias[o] = 2.0f * normal(rng);
        th[o] = normal(rng) - 0.5f;
        th[cout + o] = th[o] + std::fabs(normal(rng));
        th[2 * cout + o] = (o % 3 == 0) ? -1.0f : 1.0f;
      }
      std::vector<int32_t> xp =
          Pack(x, static_cast<int64_t>(batch) * h * w, cin);
      const int64_t pixels = static_cast<int64_t>(batch) * s.out_h * s.out_w;
      std::vector<float> yref(static_cast<size_t>(pixels) * cout);
      sttn::core::Conv2DTernaryReference(s, xp.data(), wt.data(), scale.data(),
                                         bias.data(), act, yref.data());
      const size_t words =
          static_cast<size_t>(pixels) * sttn::core::PackedWidth(cout);
      std::vector<int32_t> expected(words), got(words);
      sttn::core::TernarizeReference(yref.data(), pixels, cout, th.data(),
                                     expected.data());
      for (GemmMethod method : Methods(isa, cout, k * k, cin)) {
        std::vector<uint32_t> wp(
            sttn::core::TernaryGemmPackedWords(isa, cout, k * k, cin, method));
        sttn::core::PackTernaryGemm(isa, wt.data(), cout, k * k, cin,
                                    scale.data(), bias.data(), wp.data(),
                                    method);
        std::vector<unsigned char> scratch(
            sttn::core::Conv2DTernaryGemmScratchBytes(isa, s, true));
        sttn::core::PrepareConv2DTernaryGemmScratch(isa, s, scratch.data(),
                                                    true);
        std::vector<int32_t> int_th(
            sttn::core::TernaryGemmPackedOutputWords(isa, cout));
        EXPECT_TRUE(sttn::core::PrepareTernaryGemmPackedOutput(
            isa, cout, static_cast<int64_t>(k) * k * cin, scale.data(),
            bias.data(), act, th.data(), int_th.data()))
            << "cout=" << cout;
        for (bool integer : {true, false}) {
          sttn::core::PackedOutput po;
          po.thresholds = th.data();
          po.out = got.data();
          po.int_thresholds = integer ? int_th.data() : nullptr;
          std::fill(got.begin(), got.end(), -1);
          sttn::core::Conv2DTernaryGemm(isa, s, xp.data(), wp.data(), act, 2,
                                        scratch.data(), nullptr, &po);
          EXPECT_TRUE(Identical(expected, got))
              << "packed conv cout=" << cout << " integer=" << integer
              << MethodName(method);
        }
      }
    }
  }
}

// The shape classes of MobileNet-style 1x1 convs (the contiguous-row path)
// and of the kernels' own tiling: K below one chunk, not a multiple of 32,
// above the int8 flush (15 chunks) and above the int16 packed compare
// (32766); pixel counts that leave tails of every size (of 4-pixel tiles
// and of work items); partial groups and blocks of output channels; float
// and packed outputs; 1 to 3 threads. Each against the reference kernel
// (then the reference ternarize) bit for bit.
TEST_P(IsaTest, GemmShapeClassesMatchReference) {
  const Isa isa = GetParam();
  struct Case {
    int cin, cout, h, w, k, stride, batch;
  };
  const Case cases[] = {
      {16, 96, 9, 7, 1, 1, 1},    // K < 32, 63 pixels, 12 groups
      {24, 40, 5, 5, 1, 1, 1},    // 25 pixels, partial block of outputs
      {70, 17, 6, 7, 1, 1, 2},    // K % 32 != 0, partial group, 2 images
      {200, 33, 3, 3, 1, 1, 1},   // 9 pixels: one 4-pixel tile and tails
      {600, 24, 4, 5, 1, 1, 1},   // 19 chunks: int8 sums flushed
      {33000, 9, 1, 3, 1, 1, 1},  // K > 32766: int32 packed compares
      {40, 72, 5, 6, 3, 1, 1},    // 3x3 over the pointer table
      {48, 20, 7, 7, 1, 2, 1},    // 1x1 stride 2 (pointer table)
      {1, 8, 2, 1, 1, 1, 1},      // 2 pixels, one channel in
      // Above the one-thread work bound (8192 pixel x group x chunk units),
      // so 2 and 3 threads split them: pixels only, and 49 pixels x 21
      // groups split in channels too (a partial last block of outputs).
      {64, 40, 41, 41, 1, 1, 1},
      {320, 168, 7, 7, 1, 1, 1},
      // Table method classes (quad tables): more than 8 groups of 32 (a run
      // of 8 and a remainder), int16 sums (more than 31 quads) with a tail
      // of quads, a 3x3 conv's quads over its taps, MobileNetV2's first 1x1
      // shapes.
      {16, 300, 6, 5, 1, 1, 1},
      {132, 40, 5, 5, 1, 1, 1},
      {144, 24, 6, 6, 1, 1, 1},
      {14, 50, 6, 5, 3, 1, 1},
      {32, 16, 12, 12, 1, 1, 1},
      {24, 144, 8, 8, 1, 1, 1},
      // Pair tables (quads too large): int8 sums over 10 groups, and (above)
      // int16 sums at 200 and 600 inputs and over a 3x3 conv's taps.
      {100, 300, 4, 5, 1, 1, 1},
  };
  std::mt19937 rng(99);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (const Case& c : cases) {
    const std::string name =
        "cin=" + std::to_string(c.cin) + " cout=" + std::to_string(c.cout) +
        " hw=" + std::to_string(c.h) + "x" + std::to_string(c.w) +
        " k=" + std::to_string(c.k) + " stride=" + std::to_string(c.stride);
    ConvShape s;
    ASSERT_TRUE(IsOk(sttn::core::ComputeConvShape(
        c.batch, c.h, c.w, c.cin, c.cout, c.k, c.k, c.stride, c.stride,
        Padding::kSame, 0, &s)))
        << name;
    const int taps = c.k * c.k;
    const int64_t in_pixels = static_cast<int64_t>(c.batch) * c.h * c.w;
    const int64_t pixels = static_cast<int64_t>(c.batch) * s.out_h * s.out_w;
    std::vector<int8_t> x =
        RandomTrits(rng, static_cast<size_t>(in_pixels) * c.cin);
    std::vector<int8_t> wt =
        RandomTrits(rng, static_cast<size_t>(c.cout) * taps * c.cin);
    std::vector<float> scale(c.cout), bias(c.cout), th(3 * c.cout);
    for (int o = 0; o < c.cout; ++o) {
      scale[o] = (o % 7 == 3 ? -0.2f : 0.2f) * std::fabs(normal(rng)) + 0.01f;
      bias[o] = 2.0f * normal(rng);
      th[o] = normal(rng) - 0.5f;
      th[c.cout + o] = th[o] + std::fabs(normal(rng));
      th[2 * c.cout + o] = (o % 3 == 0) ? -1.0f : 1.0f;
    }
    std::vector<int32_t> xp = Pack(x, in_pixels, c.cin);
    for (Activation act : {Activation::kNone, Activation::kRelu}) {
      std::vector<float> yref(static_cast<size_t>(pixels) * c.cout);
      sttn::core::Conv2DTernaryReference(s, xp.data(), wt.data(), scale.data(),
                                         bias.data(), act, yref.data());
      const size_t words =
          static_cast<size_t>(pixels) * sttn::core::PackedWidth(c.cout);
      std::vector<int32_t> expected(words);
      sttn::core::TernarizeReference(yref.data(), pixels, c.cout, th.data(),
                                     expected.data());
      for (GemmMethod method : Methods(isa, c.cout, taps, c.cin)) {
        std::vector<uint32_t> wp(sttn::core::TernaryGemmPackedWords(
            isa, c.cout, taps, c.cin, method));
        sttn::core::PackTernaryGemm(isa, wt.data(), c.cout, taps, c.cin,
                                    scale.data(), bias.data(), wp.data(),
                                    method);
        std::vector<int32_t> int_th(
            sttn::core::TernaryGemmPackedOutputWords(isa, c.cout));
        ASSERT_TRUE(sttn::core::PrepareTernaryGemmPackedOutput(
            isa, c.cout, static_cast<int64_t>(taps) * c.cin, scale.data(),
            bias.data(), act, th.data(), int_th.data()))
            << name;
        for (bool packed : {false, true}) {
          std::vector<unsigned char> scratch(
              sttn::core::Conv2DTernaryGemmScratchBytes(isa, s, packed));
          sttn::core::PrepareConv2DTernaryGemmScratch(isa, s, scratch.data(),
                                                      packed);
          for (int threads : {1, 2, 3}) {
            const std::string what = name + MethodName(method) +
                                     (packed ? " packed" : " float") +
                                     " threads=" + std::to_string(threads) +
                                     (act == Activation::kRelu ? " relu" : "");
            if (!packed) {
              std::vector<float> got(yref.size(), -7.0f);
              sttn::core::Conv2DTernaryGemm(isa, s, xp.data(), wp.data(), act,
                                            threads, scratch.data(),
                                            got.data());
              EXPECT_TRUE(Identical(yref, got)) << what;
              continue;
            }
            std::vector<int32_t> got(words, -1);
            sttn::core::PackedOutput po;
            po.thresholds = th.data();
            po.out = got.data();
            po.int_thresholds = int_th.data();
            sttn::core::Conv2DTernaryGemm(isa, s, xp.data(), wp.data(), act,
                                          threads, scratch.data(), nullptr,
                                          &po);
            EXPECT_TRUE(Identical(expected, got)) << what;
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Fully connected.

struct FcCase {
  int cin, rows, cout = 7;
  FullyConnectedShape s;
  std::vector<int8_t> x, wt;
  std::vector<float> scale, bias;
  std::vector<int32_t> xp;
};

std::vector<FcCase> FcGrid() {
  std::vector<FcCase> grid;
  for (int cin : {1, 3, 31, 33, 65, 100}) {
    for (int rows : {1, 3}) {
      FcCase c;
      c.cin = cin;
      c.rows = rows;
      EXPECT_TRUE(IsOk(
          sttn::core::ComputeFullyConnectedShape(rows, cin, c.cout, &c.s)));
      std::mt19937 rng(static_cast<unsigned>(grid.size()));
      c.x = RandomTrits(rng, static_cast<size_t>(rows) * cin);
      c.wt = RandomTrits(rng, static_cast<size_t>(c.cout) * cin);
      c.scale = RandomFloats(rng, c.cout);
      c.bias = RandomFloats(rng, c.cout);
      c.xp = Pack(c.x, rows, cin);
      grid.push_back(std::move(c));
    }
  }
  return grid;
}

// The integer thresholds use INT32_MAX / INT32_MIN as "never" sentinels, so
// they must refuse a K whose accumulators could reach them (the caller then
// computes float tiles): at k_max = INT32_MAX an accumulator of exactly
// INT32_MAX would read as "above the upper threshold".
TEST(PackedOutput, IntegerThresholdsRefuseKWhereSentinelsAreReachable) {
  const float scale = 1.0f, bias = 0.0f;
  const float thresholds[3] = {-0.5f, 0.5f, 1.0f};  // lo, hi, sgn
  int32_t upper = 0, lower = 0, flip = 0;
  EXPECT_FALSE(sttn::core::IntegerOutputThresholds(
      1, INT32_MAX, &scale, &bias, sttn::core::Activation::kNone, thresholds,
      &upper, &lower, &flip));
  ASSERT_TRUE(sttn::core::IntegerOutputThresholds(
      1, INT32_MAX - 1, &scale, &bias, sttn::core::Activation::kNone,
      thresholds, &upper, &lower, &flip));
  EXPECT_EQ(upper, 1);  // acc >= 1 gives y > 0.5
  EXPECT_EQ(lower, -1);
  EXPECT_EQ(flip, 0);
}

TEST(FullyConnected, ReferenceMatchesTheFormula) {
  for (const FcCase& c : FcGrid()) {
    std::vector<float> ref(static_cast<size_t>(c.rows) * c.cout);
    sttn::core::FullyConnectedTernaryReference(c.s, c.xp.data(), c.wt.data(),
                                               c.scale.data(), c.bias.data(),
                                               Activation::kRelu, ref.data());
    for (int r = 0; r < c.rows; ++r) {
      for (int o = 0; o < c.cout; ++o) {
        int32_t acc = 0;
        for (int i = 0; i < c.cin; ++i)
          acc += c.x[r * c.cin + i] * c.wt[o * c.cin + i];
        const float y =
            std::fmax(c.scale[o] * static_cast<float>(acc) + c.bias[o], 0.0f);
        EXPECT_EQ(ref[r * c.cout + o], y)
            << "cin=" << c.cin << " rows=" << c.rows << " r=" << r
            << " o=" << o;
      }
    }
  }
}

TEST(FullyConnected, FloatInputOptimizedMatchesReference) {
  for (const FcCase& c : FcGrid()) {
    std::mt19937 rng(static_cast<unsigned>(c.cin * 10 + c.rows));
    std::vector<float> xf = ExactFloats(rng, c.x.size());
    std::vector<float> wf(static_cast<size_t>(c.cout) * c.cin);
    sttn::core::PrepareFullyConnectedFloatWeights(c.s, c.wt.data(), wf.data());
    std::vector<float> ones(c.cout, 1.0f), zeros(c.cout, 0.0f);
    std::vector<float> ref(static_cast<size_t>(c.rows) * c.cout),
        opt(ref.size());
    sttn::core::FullyConnectedFloatReference(c.s, xf.data(), c.wt.data(),
                                             ones.data(), zeros.data(),
                                             Activation::kNone, ref.data());
    sttn::core::FullyConnectedFloatOptimized(c.s, xf.data(), wf.data(),
                                             ones.data(), zeros.data(),
                                             Activation::kNone, opt.data());
    EXPECT_TRUE(Identical(ref, opt))
        << "fc float cin=" << c.cin << " rows=" << c.rows;
  }
}

TEST_P(IsaTest, FullyConnectedTernaryMatchesReference) {
  const Isa isa = GetParam();
  for (const FcCase& c : FcGrid()) {
    std::vector<float> ref(static_cast<size_t>(c.rows) * c.cout),
        opt(ref.size());
    sttn::core::FullyConnectedTernaryReference(c.s, c.xp.data(), c.wt.data(),
                                               c.scale.data(), c.bias.data(),
                                               Activation::kRelu, ref.data());
    for (GemmMethod method : Methods(isa, c.cout, 1, c.cin)) {
      std::vector<uint32_t> wp(
          sttn::core::TernaryGemmPackedWords(isa, c.cout, 1, c.cin, method));
      sttn::core::PackTernaryGemm(isa, c.wt.data(), c.cout, 1, c.cin,
                                  c.scale.data(), c.bias.data(), wp.data(),
                                  method);
      std::vector<unsigned char> scratch(
          sttn::core::FullyConnectedTernaryGemmScratchBytes(isa, c.s));
      sttn::core::PrepareFullyConnectedTernaryGemmScratch(isa, c.s,
                                                          scratch.data());
      std::fill(opt.begin(), opt.end(), -1.0f);
      sttn::core::FullyConnectedTernaryGemm(isa, c.s, c.xp.data(), wp.data(),
                                            Activation::kRelu, 2,
                                            scratch.data(), opt.data());
      EXPECT_TRUE(Identical(ref, opt))
          << "fc cin=" << c.cin << " rows=" << c.rows << MethodName(method);
    }
  }
}

// ---------------------------------------------------------------------------
// Depthwise: ternary (float and packed outputs) and float input, per ISA.

TEST_P(IsaTest, DepthwiseMatchesReference) {
  const Isa isa = GetParam();
  std::mt19937 rng(1234);
  for (int cin : {1, 3, 31, 33, 65}) {
    for (int mult : {1, 2}) {
      // 3 and 5: the SIMD paths' compile-time kernel sizes; 1 and 2: run time.
      for (int k : {1, 2, 3, 5}) {
        for (int stride : {1, 2}) {
          for (Padding pad : {Padding::kSame, Padding::kValid}) {
            const std::string name =
                "cin=" + std::to_string(cin) + " m=" + std::to_string(mult) +
                " k=" + std::to_string(k) +
                " stride=" + std::to_string(stride) +
                (pad == Padding::kSame ? " same" : " valid");
            const int batch = 2, h = 6, w = 5, cout = cin * mult;
            ConvShape s;
            ASSERT_TRUE(IsOk(sttn::core::ComputeConvShape(
                batch, h, w, cin, cout, k, k, stride, stride, pad, mult, &s)))
                << name;
            std::vector<int8_t> x =
                RandomTrits(rng, static_cast<size_t>(batch) * h * w * cin);
            std::vector<int8_t> wt =
                RandomTrits(rng, static_cast<size_t>(k) * k * cout);
            std::vector<float> scale = RandomFloats(rng, cout);
            std::vector<float> bias = RandomFloats(rng, cout);
            std::vector<int32_t> xp =
                Pack(x, static_cast<int64_t>(batch) * h * w, cin);
            const size_t out_n =
                static_cast<size_t>(batch) * s.out_h * s.out_w * cout;
            std::vector<float> ref(out_n), opt(out_n);
            std::vector<unsigned char> scratch(
                sttn::core::DepthwiseTernaryScratchBytes(s));
            sttn::core::PrepareDepthwiseTernaryScratch(s, scratch.data());
            std::vector<unsigned char> prepared(
                sttn::core::DepthwiseTernaryPreparedBytes(s));
            sttn::core::PrepareDepthwiseTernary(s, wt.data(), scale.data(),
                                                bias.data(), Activation::kNone,
                                                nullptr, prepared.data());
            sttn::core::DepthwiseConv2DTernaryReference(
                s, xp.data(), wt.data(), scale.data(), bias.data(),
                Activation::kNone, ref.data());
            std::fill(opt.begin(), opt.end(), -1.0f);
            sttn::core::DepthwiseConv2DTernaryOptimized(
                s, xp.data(), prepared.data(), Activation::kNone, isa, 3,
                scratch.data(), opt.data(), nullptr);
            EXPECT_TRUE(Identical(ref, opt)) << "depthwise ternary " << name;
            // Packed output from the int8/int32 accumulators.
            {
              std::vector<float> th(3 * static_cast<size_t>(cout));
              for (int o = 0; o < cout; ++o) {
                th[o] = -0.4f * static_cast<float>(o % 5);
                th[cout + o] = th[o] + 0.3f * static_cast<float>(o % 7);
                th[2 * cout + o] = (o % 2) ? -1.0f : 1.0f;
              }
              const Activation act =
                  k == 3 ? Activation::kRelu : Activation::kNone;
              sttn::core::DepthwiseConv2DTernaryReference(
                  s, xp.data(), wt.data(), scale.data(), bias.data(), act,
                  ref.data());
              const int64_t pixels =
                  static_cast<int64_t>(batch) * s.out_h * s.out_w;
              const size_t words =
                  static_cast<size_t>(pixels) * sttn::core::PackedWidth(cout);
              std::vector<int32_t> expected(words), got(words, -1);
              sttn::core::TernarizeReference(ref.data(), pixels, cout,
                                             th.data(), expected.data());
              std::vector<unsigned char> prep2(
                  sttn::core::DepthwiseTernaryPreparedBytes(s));
              EXPECT_TRUE(sttn::core::PrepareDepthwiseTernary(
                  s, wt.data(), scale.data(), bias.data(), act, th.data(),
                  prep2.data()))
                  << name;
              sttn::core::DepthwiseConv2DTernaryOptimized(
                  s, xp.data(), prep2.data(), act, isa, 2, scratch.data(),
                  nullptr, got.data());
              EXPECT_TRUE(Identical(expected, got))
                  << "depthwise packed " << name;
            }
            std::vector<float> xf = ExactFloats(rng, x.size());
            std::vector<float> wf(static_cast<size_t>(k) * k * cout);
            sttn::core::PrepareDepthwiseFloatWeights(s, wt.data(), wf.data());
            std::vector<float> ones(cout, 1.0f), zeros(cout, 0.0f);
            sttn::core::DepthwiseConv2DFloatReference(
                s, xf.data(), wt.data(), ones.data(), zeros.data(),
                Activation::kRelu, ref.data());
            std::fill(opt.begin(), opt.end(), -1.0f);
            sttn::core::DepthwiseConv2DFloatOptimized(
                s, xf.data(), wf.data(), ones.data(), zeros.data(),
                Activation::kRelu, isa, opt.data());
            EXPECT_TRUE(Identical(ref, opt)) << "depthwise float " << name;
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

TEST(FlexbufferReader, ReadsAValidMap) {
  const std::vector<uint8_t> good = SampleMap();
  sttn::flex::MapReader m;
  char err[256] = "";
  ASSERT_TRUE(m.Parse(good.data(), good.size(), err, sizeof(err))) << err;
  EXPECT_EQ(m.size(), 2);
  const sttn::flex::Value* a = m.Find("a");
  const sttn::flex::Value* b = m.Find("b");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->kind, sttn::flex::Value::kInt);
  EXPECT_EQ(a->i, 7);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->kind, sttn::flex::Value::kString);
  EXPECT_EQ(std::string(b->s), "VALID");
  EXPECT_EQ(b->s_len, 5u);
  EXPECT_EQ(m.Find("c"), nullptr);
}

TEST(FlexbufferReader, SurvivesTruncationsAndMutations) {
  const std::vector<uint8_t> good = SampleMap();
  char err[256];
  for (size_t cut = 0; cut < good.size(); ++cut) {
    std::vector<uint8_t> t(good.begin(), good.begin() + cut);
    sttn::flex::MapReader r;
    r.Parse(t.empty() ? nullptr : t.data(), t.size(), err, sizeof(err));
  }
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> byte(0, 255);
  int rejected = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::vector<uint8_t> t = good;
    const int edits = 1 + trial % 3;
    for (int e = 0; e < edits; ++e) {
      t[static_cast<size_t>(rng() % t.size())] =
          static_cast<uint8_t>(byte(rng));
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
        EXPECT_TRUE(p >= t.data() && p + v.s_len < t.data() + t.size())
            << "trial " << trial << " value " << i;
        EXPECT_EQ(v.s[v.s_len], '\0') << "trial " << trial << " value " << i;
      }
      EXPECT_LT(std::strlen(r.key(i)), t.size()) << "trial " << trial;
    }
  }
  EXPECT_GT(rejected, 1000);
}

}  // namespace
