// libFuzzer target: every sttn op's Init (FlexBuffer options), Prepare and
// Invoke, in every kernel type this CPU runs, driven through the opaque C
// API as the host layer implements it (export/host/opaque_api.cc over the
// classic TfLiteContext / TfLiteNode / TfLiteTensor structs of abi.h), with
// fuzzed options, shapes, tensor types, allocation types and constants.
//
// Input: byte 0 op index, byte 1 kernel type, bytes 2-3 the options' length
// L (little-endian), L bytes of options, then the rest drives shapes and
// constants (FuzzedDataProvider). The harness reads the options with our
// own reader so that most cases get consistent shapes and reach Invoke; a
// mode word then breaks one thing at a time (channel count, rank, type,
// byte count, allocation type, missing tensor, invalid trit codes, odd
// floats).
//
// Oracles: no sanitizer report; a failed Prepare reported an error; the
// output has the shape Prepare asked for; and for the ternary-input ops,
// whose accumulators are integers, every optimized kernel type gives
// bit-identical output to the reference kernel on the same input.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "export/core/packing.h"
#include "export/host/abi.h"
#include "export/host/operator.h"
#include "export/tflite/flexbuffer_map.h"
#include "export/tflite/sttn_ops.h"

namespace {

using sttn::host::abi::Context;
using sttn::host::abi::Node;
using sttn::host::abi::Tensor;

// Work limits per case: keeps one execution in the milliseconds.
constexpr int64_t kMaxTrits = 1 << 16;
constexpr int64_t kMaxMacs = 1 << 20;
constexpr int64_t kMaxElements = 1 << 16;

struct Harness {
  std::vector<Tensor> tensors;
  std::vector<std::vector<unsigned char>> storage;
  std::vector<TfLiteIntArray*> dims;
  char error[1024] = {};
  int errors = 0;
  Context ctx = {};

  ~Harness() {
    for (Tensor& t : tensors) std::free(t.dims);
    for (TfLiteIntArray* d : dims) std::free(d);
  }
};

Harness* g_harness = nullptr;

void ReportError(Context*, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(g_harness->error, sizeof(g_harness->error), format, args);
  va_end(args);
  ++g_harness->errors;
}

size_t ElementSize(int type) {
  switch (type) {
    case kTfLiteFloat32:
    case kTfLiteInt32:
      return 4;
    case kTfLiteInt64:
      return 8;
    default:
      return 1;
  }
}

// The runtime's ResizeTensor: takes ownership of `size`, (re)allocates.
TfLiteStatus ResizeTensor(Context* ctx, Tensor* t, TfLiteIntArray* size) {
  int64_t n = 1;
  bool ok = size != nullptr && size->size >= 0 && size->size <= 8;
  for (int i = 0; ok && i < size->size; ++i) {
    ok = size->data[i] >= 0;
    n *= ok ? size->data[i] : 1;
    ok = ok && n <= (int64_t{1} << 26);
  }
  if (!ok) {
    std::free(size);
    ctx->ReportError(ctx, "harness: implausible output shape");
    return kTfLiteError;
  }
  const size_t index = static_cast<size_t>(t - ctx->tensors);
  std::free(t->dims);
  t->dims = size;
  t->bytes = static_cast<size_t>(n) * ElementSize(t->type);
  // Exactly `bytes` (at least one byte, so data is never null): ASan sees
  // any write past the end.
  g_harness->storage[index].assign(t->bytes > 0 ? t->bytes : 1, 0xA5);
  t->data = g_harness->storage[index].data();
  return kTfLiteOk;
}

TfLiteIntArray* MakeDims(const std::vector<int>& d) {
  TfLiteIntArray* a = static_cast<TfLiteIntArray*>(
      std::malloc(sizeof(TfLiteIntArray) + sizeof(int) * (d.size() + 1)));
  a->size = static_cast<int>(d.size());
  for (size_t i = 0; i < d.size(); ++i) a->data[i] = d[i];
  return a;
}

// A small deterministic generator for bulk data (so the fuzz input stays
// short).
struct Rng {
  uint64_t s;
  uint32_t Next() {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<uint32_t>(s >> 33);
  }
};

int64_t OptInt(const sttn::flex::MapReader& m, const char* key, int64_t dflt) {
  const sttn::flex::Value* v = m.Find(key);
  if (v == nullptr) return dflt;
  if (v->kind == sttn::flex::Value::kInt) return v->i;
  if (v->kind == sttn::flex::Value::kUInt) {
    return v->u > (uint64_t{1} << 40) ? dflt : static_cast<int64_t>(v->u);
  }
  return dflt;
}

bool OptIs(const sttn::flex::MapReader& m, const char* key, const char* s) {
  const sttn::flex::Value* v = m.Find(key);
  return v != nullptr && v->kind == sttn::flex::Value::kString &&
         std::strcmp(v->s, s) == 0;
}

// Mode bits: each breaks one property of an otherwise consistent case.
enum : uint32_t {
  kWrongChannels = 1u << 0,
  kWrongRank = 1u << 1,
  kWrongType = 1u << 2,
  kWrongWeightBytes = 1u << 3,
  kNotConstant = 1u << 4,
  kMissingTensor = 1u << 5,
  kRawWeightBytes = 1u << 6,
  kOddFloats = 1u << 7,
  kRawThresholds = 1u << 8,
  kNonCanonicalX = 1u << 9,
  kResizeAgain = 1u << 10,
  kExtraInput = 1u << 11,
};

float OddFloat(FuzzedDataProvider& fdp) {
  static const float kOdd[] = {
      0.0f,     -0.0f,  1.0f,    -1.0f,       INFINITY, -INFINITY,
      NAN,      1e-45f, -1e-45f, 3.4e38f,     -3.4e38f, 1e-38f,
      16777216, 0.5f,   -0.5f,   1.0f / 3.0f,
  };
  if (fdp.ConsumeBool()) {
    return kOdd[fdp.ConsumeIntegralInRange<size_t>(0, 15)];
  }
  return fdp.ConsumeFloatingPoint<float>();
}

struct Case {
  int op = 0;
  std::vector<uint8_t> options;
  // Tensors: inputs then the output; shapes, types, allocation and data.
  struct T {
    int type = kTfLiteFloat32;
    std::vector<int> dims;
    std::vector<unsigned char> data;
    int alloc = kTfLiteArenaRw;
    bool present = true;
  };
  std::vector<T> inputs;
  T output;
  std::vector<int> x_dims_again;  // a second Prepare with these x dims
};

// Runs one case in one kernel type; returns the output bytes after Invoke
// (empty when Prepare or Invoke failed).
bool RunCase(const Case& c, int kernel, std::vector<unsigned char>* out,
             std::vector<int>* out_dims) {
  const TfLiteOperator* op = sttn_tflite_operator(c.op, kernel);
  if (op == nullptr) return false;
  Harness h;
  g_harness = &h;
  const size_t n = c.inputs.size() + 1;
  h.tensors.assign(n, Tensor{});
  h.storage.assign(n, {});
  for (size_t i = 0; i < n; ++i) {
    const Case::T& src = i < c.inputs.size() ? c.inputs[i] : c.output;
    Tensor& t = h.tensors[i];
    t.type = src.type;
    t.dims = MakeDims(src.dims);
    t.allocation_type = src.alloc;
    h.storage[i] = src.data;
    if (h.storage[i].empty()) h.storage[i].push_back(0);
    t.data = h.storage[i].data();
    t.bytes = src.data.size();
  }
  h.ctx.tensors_size = n;
  h.ctx.tensors = h.tensors.data();
  h.ctx.ResizeTensor = ResizeTensor;
  h.ctx.ReportError = ReportError;
  h.ctx.recommended_num_threads = 1;
  std::vector<int> in_idx, out_idx = {static_cast<int>(n - 1)};
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    in_idx.push_back(c.inputs[i].present ? static_cast<int>(i) : -1);
  }
  TfLiteIntArray* inputs = MakeDims(in_idx);
  TfLiteIntArray* outputs = MakeDims(out_idx);
  h.dims = {inputs, outputs};
  Node node = {};
  node.inputs = inputs;
  node.outputs = outputs;
  auto* octx = reinterpret_cast<TfLiteOpaqueContext*>(&h.ctx);
  auto* onode = reinterpret_cast<TfLiteOpaqueNode*>(&node);
  node.user_data = op->init(
      octx, reinterpret_cast<const char*>(c.options.data()), c.options.size());
  bool ok = true;
  for (int round = 0; ok && round < (c.x_dims_again.empty() ? 1 : 2); ++round) {
    if (round == 1) {
      // The runtime resized input 0: new dims, new data of the new size.
      Tensor& x = h.tensors[0];
      std::free(x.dims);
      x.dims = MakeDims(c.x_dims_again);
      size_t elems = 1;
      for (int d : c.x_dims_again) elems *= static_cast<size_t>(d);
      x.bytes = elems * ElementSize(x.type);
      h.storage[0].assign(x.bytes > 0 ? x.bytes : 1, 0);
      for (size_t i = 0; i < h.storage[0].size(); ++i) {
        h.storage[0][i] = c.inputs[0].data[i % c.inputs[0].data.size()];
      }
      x.data = h.storage[0].data();
    }
    const int errors_before = h.errors;
    if (op->prepare(octx, onode) != kTfLiteOk) {
      // Oracle: a rejected model says why.
      if (h.errors == errors_before || h.error[0] == '\0') {
        std::fprintf(stderr, "Prepare failed without an error message\n");
        std::abort();
      }
      ok = false;
      break;
    }
    if (op->invoke(octx, onode) != kTfLiteOk) ok = false;
  }
  if (ok) {
    const Tensor& o = h.tensors[n - 1];
    // Oracle: Invoke wrote nothing but the output Prepare sized (ASan), and
    // the output's byte size matches its shape.
    size_t elems = 1;
    out_dims->clear();
    for (int i = 0; i < o.dims->size; ++i) {
      elems *= static_cast<size_t>(o.dims->data[i]);
      out_dims->push_back(o.dims->data[i]);
    }
    if (o.bytes != elems * ElementSize(o.type)) {
      std::fprintf(stderr, "output bytes %zu != shape %zu\n", o.bytes, elems);
      std::abort();
    }
    out->assign(static_cast<const unsigned char*>(o.data),
                static_cast<const unsigned char*>(o.data) + o.bytes);
  }
  op->free(octx, node.user_data);
  g_harness = nullptr;
  return ok;
}

// Equal as float32 words, where every NaN equals every NaN.
bool SameFloats(const std::vector<unsigned char>& a,
                const std::vector<unsigned char>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i + 4 <= a.size(); i += 4) {
    float x, y;
    std::memcpy(&x, &a[i], 4);
    std::memcpy(&y, &b[i], 4);
    if (std::isnan(x) && std::isnan(y)) continue;
    if (std::memcmp(&x, &y, 4) != 0) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  Case c;
  c.op = data[0] % sttn_tflite_num_ops();
  const int kernel_byte = data[1];
  const size_t opt_len = data[2] | (size_t{data[3]} << 8);
  if (opt_len > size - 4) return 0;
  c.options.assign(data + 4, data + 4 + opt_len);
  FuzzedDataProvider fdp(data + 4 + opt_len, size - 4 - opt_len);

  const char* name = sttn_tflite_op_name(c.op);
  const bool ternarize = std::strcmp(name, "SttnTernarize") == 0;
  const bool float_in = std::strstr(name, "FloatIn") != nullptr;
  const bool fc = std::strstr(name, "FullyConnected") != nullptr;
  const bool depthwise = std::strstr(name, "Depthwise") != nullptr;

  // What the options say (defaults when absent or unreadable), clamped.
  sttn::flex::MapReader m;
  char err[128];
  if (!m.Parse(c.options.data(), c.options.size(), err, sizeof(err))) {
    m = sttn::flex::MapReader();
  }
  auto clamp = [](int64_t v, int64_t lo, int64_t hi) {
    return v < lo ? lo : v > hi ? hi : v;
  };
  const int64_t in_c =
      clamp(OptInt(m, ternarize ? "channels" : "in_channels", 8), 1, 4096);
  const int64_t out_c = clamp(OptInt(m, "out_channels", 8), 1, 4096);
  const int64_t kh = clamp(OptInt(m, "kernel_h", 1), 1, 64);
  const int64_t kw = clamp(OptInt(m, "kernel_w", 1), 1, 64);
  const bool packed_out = OptIs(m, "output", "PACKED");
  const bool base3 = OptIs(m, "weight_encoding", "base3");

  const uint32_t mode = fdp.ConsumeBool() ? fdp.ConsumeIntegral<uint32_t>() : 0;
  Rng rng{fdp.ConsumeIntegral<uint64_t>()};

  // Activation input x.
  std::vector<int> x_dims;
  int rank;
  if (ternarize) {
    rank = fdp.ConsumeBool() ? 2 : 4;
  } else if (fc) {
    rank = fdp.ConsumeIntegralInRange(1, 4);
  } else {
    rank = 4;
  }
  if (mode & kWrongRank) rank = fdp.ConsumeIntegralInRange(0, 6);
  for (int i = 0; i + 1 < rank; ++i) {
    x_dims.push_back(fdp.ConsumeIntegralInRange(i == 0 ? 1 : 1, 9));
  }
  const int64_t channel_dim =
      float_in || ternarize ? in_c : sttn::core::PackedWidth(in_c);
  if (rank > 0) {
    x_dims.push_back(static_cast<int>(mode & kWrongChannels
                                          ? fdp.ConsumeIntegralInRange(0, 70)
                                          : channel_dim));
  }
  if (mode & kWrongChannels && fdp.ConsumeBool() && rank > 1) x_dims[0] = 0;
  int64_t x_elems = 1;
  for (int d : x_dims) x_elems *= d;
  int64_t pixels =
      x_elems / (x_dims.empty() || x_dims.back() == 0 ? 1 : x_dims.back());
  if (x_elems > kMaxElements || pixels * in_c * out_c * kh * kw > kMaxMacs) {
    return 0;
  }
  const int64_t n_trits = depthwise
                              ? kh * kw * out_c
                              : (fc ? out_c * in_c : out_c * kh * kw * in_c);
  if (!ternarize && n_trits > kMaxTrits) return 0;

  Case::T x;
  x.type = (float_in || ternarize) ? kTfLiteFloat32 : kTfLiteInt32;
  if (mode & kWrongType) x.type = fdp.ConsumeIntegralInRange(0, 10);
  x.dims = x_dims;
  x.data.resize(static_cast<size_t>(x_elems) * ElementSize(x.type));
  if (x.type == kTfLiteInt32 && x_dims.size() > 0 && x_dims.back() > 0) {
    // Packed trits: canonical (sign only under mask, no bits past in_c),
    // unless the mode asks for raw words.
    const int64_t width = x_dims.back();
    for (int64_t i = 0; i < x_elems; ++i) {
      uint32_t w = rng.Next();
      const int64_t word = i % width;
      if (!(mode & kNonCanonicalX)) {
        const int64_t block = word / 2;
        const int64_t valid = in_c - 32 * block;
        const uint32_t keep = valid >= 32
                                  ? 0xFFFFFFFFu
                                  : (valid <= 0 ? 0u : ((1u << valid) - 1u));
        if (word % 2 == 0) {
          w &= keep;
        } else {
          // sign word: only under the mask word just written.
          uint32_t mask;
          std::memcpy(&mask, &x.data[(i - 1) * 4], 4);
          w &= mask;
        }
      }
      std::memcpy(&x.data[i * 4], &w, 4);
    }
  } else {
    for (size_t i = 0; i + 4 <= x.data.size(); i += 4) {
      const float f =
          (mode & kOddFloats) && (rng.Next() % 7 == 0)
              ? OddFloat(fdp)
              : static_cast<float>(static_cast<int>(rng.Next() % 2001) - 1000) /
                    64.0f;
      std::memcpy(&x.data[i], &f, 4);
    }
  }
  c.inputs.push_back(x);

  auto constant_floats = [&](std::vector<int> dims, auto gen) {
    Case::T t;
    t.type = kTfLiteFloat32;
    t.dims = dims;
    t.alloc = (mode & kNotConstant) && fdp.ConsumeBool() ? kTfLiteArenaRw
                                                         : kTfLiteMmapRo;
    int64_t count = 1;
    for (int d : dims) count *= d;
    t.data.resize(static_cast<size_t>(count) * 4);
    for (int64_t i = 0; i < count; ++i) {
      const float f = gen(i);
      std::memcpy(&t.data[i * 4], &f, 4);
    }
    return t;
  };
  auto thresholds = [&](int64_t channels) {
    return constant_floats({3, static_cast<int>(channels)}, [&](int64_t i) {
      if (mode & kRawThresholds && rng.Next() % 5 == 0) return OddFloat(fdp);
      const int64_t row = i / channels;
      const float lo = -static_cast<float>(rng.Next() % 64) / 8.0f;
      if (row == 0) return lo;
      if (row == 1) return static_cast<float>(rng.Next() % 64) / 8.0f;
      return rng.Next() % 2 ? 1.0f : -1.0f;
    });
  };

  if (ternarize) {
    c.inputs.push_back(thresholds(in_c));
  } else {
    // Weights.
    Case::T w;
    w.type = kTfLiteUInt8;
    w.alloc = (mode & kNotConstant) && fdp.ConsumeBool() ? kTfLiteArenaRw
                                                         : kTfLiteMmapRo;
    std::vector<int8_t> trits(static_cast<size_t>(n_trits));
    for (auto& t : trits)
      t = static_cast<int8_t>(static_cast<int>(rng.Next() % 3) - 1);
    int64_t bytes = base3 ? sttn::core::Base3PackedBytes(n_trits)
                          : sttn::core::FilePackedBytes(n_trits);
    if (mode & kWrongWeightBytes) bytes += fdp.ConsumeIntegralInRange(-2, 2);
    if (bytes < 0) bytes = 0;
    w.data.assign(static_cast<size_t>(bytes), 0);
    std::vector<uint8_t> packed(
        static_cast<size_t>(base3 ? sttn::core::Base3PackedBytes(n_trits)
                                  : sttn::core::FilePackedBytes(n_trits)));
    if (base3) {
      (void)sttn::core::PackTritsBase3(trits.data(), n_trits, packed.data());
    } else {
      (void)sttn::core::PackTritsFile(trits.data(), n_trits, packed.data());
    }
    for (size_t i = 0; i < w.data.size() && i < packed.size(); ++i) {
      w.data[i] = packed[i];
    }
    if (mode & kRawWeightBytes) {
      for (auto& b : w.data) {
        if (rng.Next() % 8 == 0) b = static_cast<uint8_t>(rng.Next());
      }
    }
    w.dims = {static_cast<int>(w.data.size())};
    c.inputs.push_back(w);
    // Scale and bias: small dyadic values, or odd ones.
    auto affine = [&](bool is_scale) {
      return constant_floats({static_cast<int>(out_c)}, [&](int64_t) {
        if (mode & kOddFloats && rng.Next() % 4 == 0) return OddFloat(fdp);
        const float v = static_cast<float>(rng.Next() % 256) / 64.0f;
        return is_scale ? v + 0.015625f : v - 2.0f;
      });
    };
    c.inputs.push_back(affine(true));
    c.inputs.push_back(affine(false));
    if (packed_out) c.inputs.push_back(thresholds(out_c));
  }
  if (mode & kExtraInput) c.inputs.push_back(thresholds(1));
  if (mode & kMissingTensor) {
    const size_t i = fdp.ConsumeIntegralInRange<size_t>(0, c.inputs.size() - 1);
    c.inputs[i].present = false;
  }
  // Output: shaped by Prepare.
  c.output.type = ternarize || packed_out ? kTfLiteInt32 : kTfLiteFloat32;
  if (mode & kWrongType && fdp.ConsumeBool()) {
    c.output.type = fdp.ConsumeIntegralInRange(0, 10);
  }
  c.output.dims = {1};
  c.output.data.assign(ElementSize(c.output.type), 0);
  if (mode & kResizeAgain && x_dims.size() >= 2 && x_dims.back() > 0) {
    c.x_dims_again = x_dims;
    for (size_t i = 0; i + 1 < x_dims.size(); ++i) {
      c.x_dims_again[i] = fdp.ConsumeIntegralInRange(1, 9);
    }
    int64_t e = 1;
    for (int d : c.x_dims_again) e *= d;
    if (e > kMaxElements ||
        e / x_dims.back() * in_c * out_c * kh * kw > kMaxMacs) {
      c.x_dims_again.clear();
    }
  }

  const int first = kernel_byte % sttn::tflite::kNumKernelTypes;
  std::vector<unsigned char> ref_out, out;
  std::vector<int> ref_dims, dims;
  const bool ref_ok = RunCase(c, sttn::tflite::kReference, &ref_out, &ref_dims);
  // Ternary-input ops: integer accumulators, so every kernel type must give
  // the reference's bits (-ffp-contract=off: same epilogue rounding).
  const bool exact = !float_in;
  for (int k = 1; k < sttn::tflite::kNumKernelTypes; ++k) {
    const int kernel = (first + k) % sttn::tflite::kNumKernelTypes;
    if (kernel == sttn::tflite::kReference) continue;
    if (!sttn_kernel_type_supported(kernel)) continue;
    const bool ok = RunCase(c, kernel, &out, &dims);
    if (ok != ref_ok) {
      std::fprintf(stderr, "%s: kernel %s %s but reference %s\n", name,
                   sttn_kernel_type_name(kernel), ok ? "ran" : "failed",
                   ref_ok ? "ran" : "failed");
      std::abort();
    }
    if (ok &&
        (dims != ref_dims || (exact && (c.output.type == kTfLiteInt32
                                            ? out != ref_out
                                            : !SameFloats(out, ref_out))))) {
      std::fprintf(stderr, "%s: kernel %s output differs from the reference\n",
                   name, sttn_kernel_type_name(kernel));
      std::abort();
    }
  }
  return 0;
}
