// The ternary GEMM on the layer shapes of whole models, through the core API
// (benchmarks/gemm_layers/run.py builds and runs it). Usage:
//   gemm_layers THREADS REPS [LAYER]   (env ISA: 0 portable .. 4 neon;
//                                       env SHAPES=resnet: ResNet-like 3x3;
//                                       env METHOD: 0 auto, 1 popcount,
//                                       2 table where the layer fits)
// Per layer: the median wall time of REPS calls and an output checksum; the
// calls are bracketed by checkpoints of the QEMU counting plugin
// (tests/qemu/insn_count.c): an lseek with its marker offset on fd -1, which
// fails with EBADF and does nothing else.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "export/core/kernels.h"
#include "export/core/ternary_gemm.h"
using namespace sttn::core;
struct L {
  int hw, cin, cout;
  bool packed;
  int k = 1;
  int stride = 1;
};

// A checkpoint of the counting plugin ("STTNCOST", tests/qemu/insn_count.c).
static void Checkpoint() {
  (void)lseek(-1, static_cast<off_t>(0x5354544E434F5354ull), SEEK_SET);
}

int main(int argc, char** argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  int reps = argc > 2 ? atoi(argv[2]) : 20;
  const char* only = argc > 3 ? argv[3] : nullptr;
  Isa isa = Isa::kAvx2;
  if (getenv("ISA")) isa = static_cast<Isa>(atoi(getenv("ISA")));
  GemmMethod method = GemmMethod::kAuto;
  if (getenv("METHOD"))
    method = static_cast<GemmMethod>(atoi(getenv("METHOD")));
  std::vector<L> ls = {
      {112, 32, 16, true},  {112, 16, 96, true},  {56, 96, 24, false},
      {56, 24, 144, true},  {56, 144, 24, false}, {56, 24, 144, true},
      {28, 144, 32, false}, {28, 32, 192, true},  {28, 192, 32, false},
      {28, 32, 192, true},  {28, 192, 32, false}, {28, 32, 192, true},
      {14, 192, 64, false}};
  for (int i = 0; i < 3; ++i) {
    ls.push_back({14, 64, 384, true});
    ls.push_back({14, 384, 64, false});
  }
  ls.push_back({14, 64, 384, true});
  ls.push_back({14, 384, 96, false});
  for (int i = 0; i < 2; ++i) {
    ls.push_back({14, 96, 576, true});
    ls.push_back({14, 576, 96, false});
  }
  ls.push_back({14, 96, 576, true});
  ls.push_back({7, 576, 160, false});
  for (int i = 0; i < 2; ++i) {
    ls.push_back({7, 160, 960, true});
    ls.push_back({7, 960, 160, false});
  }
  ls.push_back({7, 160, 960, true});
  ls.push_back({7, 960, 320, true});
  ls.push_back({7, 320, 1280, false});
  if (getenv("SHAPES") && strcmp(getenv("SHAPES"), "resnet") == 0) {
    ls = {{56, 64, 64, true, 3},
          {28, 128, 128, true, 3},
          {14, 256, 256, true, 3},
          {7, 512, 512, false, 3},
          {28, 128, 128, false, 1}};
  }
  std::mt19937 rng(1);
  double tot_ms = 0;
  double tot_mac = 0;
  for (size_t li = 0; li < ls.size(); ++li) {
    if (only && atoi(only) != (int)li) continue;
    const L& l = ls[li];
    ConvShape s;
    ComputeConvShape(1, l.hw, l.hw, l.cin, l.cout, l.k, l.k, l.stride, l.stride,
                     Padding::kSame, 0, &s);
    int taps = l.k * l.k;
    std::vector<int8_t> x((size_t)l.hw * l.hw * l.cin),
        w((size_t)l.cout * taps * l.cin);
    std::uniform_int_distribution<int> d(-1, 1);
    for (auto& v : x) v = d(rng);
    for (auto& v : w) v = d(rng);
    std::vector<int32_t> xp((size_t)l.hw * l.hw * PackedWidth(l.cin));
    PackTritsCompute(x.data(), (int64_t)l.hw * l.hw, l.cin, xp.data());
    std::vector<float> scale(l.cout), bias(l.cout), th(3 * l.cout);
    std::normal_distribution<float> nd(0, 1);
    for (int o = 0; o < l.cout; ++o) {
      scale[o] = 0.1f + 0.05f * nd(rng);
      bias[o] = nd(rng);
      th[o] = -0.5f;
      th[l.cout + o] = 0.5f;
      th[2 * l.cout + o] = 1;
    }
    std::vector<uint32_t> wp(
        TernaryGemmPackedWords(isa, l.cout, taps, l.cin, method));
    PackTernaryGemm(isa, w.data(), l.cout, taps, l.cin, scale.data(),
                    bias.data(), wp.data(), method);
    std::vector<unsigned char> scratch(
        Conv2DTernaryGemmScratchBytes(isa, s, l.packed));
    PrepareConv2DTernaryGemmScratch(isa, s, scratch.data(), l.packed);
    std::vector<int32_t> ith(TernaryGemmPackedOutputWords(isa, l.cout));
    PrepareTernaryGemmPackedOutput(isa, l.cout, (int64_t)taps * l.cin,
                                   scale.data(), bias.data(), Activation::kNone,
                                   th.data(), ith.data());
    int64_t px = (int64_t)s.out_h * s.out_w;
    std::vector<float> out(px * l.cout);
    std::vector<int32_t> pout(px * PackedWidth(l.cout));
    PackedOutput po;
    po.thresholds = th.data();
    po.out = pout.data();
    po.int_thresholds = ith.data();
    auto run = [&] {
      Conv2DTernaryGemm(isa, s, xp.data(), wp.data(), Activation::kNone,
                        threads, scratch.data(), out.data(),
                        l.packed ? &po : nullptr);
    };
    run();
    std::vector<double> ts;
    Checkpoint();
    for (int r = 0; r < reps; ++r) {
      auto t0 = std::chrono::steady_clock::now();
      run();
      ts.push_back(std::chrono::duration<double, std::milli>(
                       std::chrono::steady_clock::now() - t0)
                       .count());
    }
    Checkpoint();
    std::sort(ts.begin(), ts.end());
    double ms = ts[ts.size() / 2];
    double mac = (double)px * l.cout * taps * l.cin;
    // checksum
    unsigned long long h = 0;
    if (l.packed)
      for (auto v : pout) h = h * 31 + (uint32_t)v;
    else
      for (auto v : out) {
        uint32_t b;
        memcpy(&b, &v, 4);
        h = h * 31 + b;
      }
    printf("L%02zu %dx%d k%d %d->%d %s %.4f ms %.2f GMAC/s h=%016llx\n", li,
           l.hw, l.hw, l.k, l.cin, l.cout, l.packed ? "packed" : "float", ms,
           mac / ms / 1e6, h);
    tot_ms += ms;
    tot_mac += mac;
  }
  printf("TOTAL %.4f ms  %.2f GMAC/s\n", tot_ms, tot_mac / tot_ms / 1e6);
}
