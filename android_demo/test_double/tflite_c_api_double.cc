// TEST DOUBLE of the interpreter-level TFLite C API
// (android_demo/native/common/tflite_interpreter_api.h), written by us for
// the build machines, where no installable package exports that API. It lets
// the JNI layer and sttn_benchmark_model be linked and exercised on the host
// (x86-64 and aarch64 under qemu). It is NOT a TFLite runtime:
//   - TfLiteModelCreate* reads a real .tflite flatbuffer far enough to know
//     its operator codes (builtin or custom name) and subgraph 0's input and
//     output tensors (type, shape); anything else is rejected with a message;
//   - TfLiteInterpreterCreate resolves every custom op of the model against
//     the operators added to the options (by custom name, as TFLite does) and
//     fails with the runtime's "Encountered unresolved custom op" message;
//     builtin ops are assumed available;
//   - TfLiteInterpreterInvoke runs NO op. It writes a fixed function of the
//     inputs to float32 outputs: output[j] = mean(float32 input 0) + j, so a
//     caller can check that data went in and came out.
// It also checks what a real runtime would reject or crash on (operators
// without a custom name or Invoke, copies of the wrong size, Invoke before
// AllocateTensors) and records what it was given, readable from Java through
// org.sttnkeras.demo.TfLiteDoubleProbe (double_probe_jni.cc).
// TfLiteOperator is the host's struct (export/host/operator.h), filled by
// export/host/opaque_api.cc, which is linked into this double.
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "android_demo/native/common/tflite_interpreter_api.h"
#include "android_demo/test_double/tflite_double.h"
#include "export/host/operator.h"

namespace {

std::mutex g_mu;
int g_last_num_threads = -2;          // -2: never set.
std::vector<std::string> g_last_ops;  // Names added to the last options.
std::string g_problems;               // Invalid registrations seen.
std::atomic<int> g_live{0};           // Live models+options+interpreters.

void Report(TfLiteErrorReporterFn reporter, void* user_data, const char* format,
            ...) {
  va_list args;
  va_start(args, format);
  if (reporter != nullptr) {
    reporter(user_data, format, args);
  } else {
    std::vfprintf(stderr, format, args);
    std::fputc('\n', stderr);
  }
  va_end(args);
}

// Bounds-checked reading of the parts of a flatbuffer we need. Field ids are
// those of the public TFLite schema (schema.fbs): Model.operator_codes=1,
// Model.subgraphs=2; OperatorCode.deprecated_builtin_code=0, custom_code=1,
// builtin_code=3; SubGraph.tensors=0, inputs=1, outputs=2, operators=3;
// Tensor.shape=0, type=1, name=3; Operator.opcode_index=0.
class Flatbuffer {
 public:
  Flatbuffer(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool ok() const { return ok_; }

  uint32_t U32(size_t at) {
    if (at > n_ || n_ - at < 4) return Fail();
    uint32_t v;
    std::memcpy(&v, p_ + at, 4);  // Flatbuffers are little-endian, as we are.
    return v;
  }
  uint16_t U16(size_t at) {
    if (at > n_ || n_ - at < 2) return static_cast<uint16_t>(Fail());
    uint16_t v;
    std::memcpy(&v, p_ + at, 2);
    return v;
  }
  uint8_t U8(size_t at) {
    if (at >= n_) return static_cast<uint8_t>(Fail());
    return p_[at];
  }
  size_t Root() { return U32(0); }
  // Position of field `id` of the table at `table`, or 0 when absent.
  size_t Field(size_t table, int id) {
    const int32_t soffset = static_cast<int32_t>(U32(table));
    const int64_t vtable = static_cast<int64_t>(table) - soffset;
    if (!ok_ || vtable < 0 || static_cast<size_t>(vtable) >= n_) {
      Fail();
      return 0;
    }
    const uint16_t vt_size = U16(static_cast<size_t>(vtable));
    if (4 + 2 * id + 2 > vt_size) return 0;
    const uint16_t off = U16(static_cast<size_t>(vtable) + 4 + 2 * id);
    return off == 0 ? 0 : table + off;
  }
  // Follows a uoffset stored at `at` (a table, vector or string field).
  size_t Deref(size_t at) {
    const uint32_t off = U32(at);
    if (!ok_ || off > n_ - at) {
      Fail();
      return 0;
    }
    return at + off;
  }
  // Vector at field position `at`: element count and first element position.
  size_t Vector(size_t at, uint32_t* count) {
    *count = 0;
    if (at == 0) return 0;
    const size_t v = Deref(at);
    *count = U32(v);
    if (!ok_ || *count > (n_ - v - 4)) {
      *count = 0;
      Fail();
      return 0;
    }
    return v + 4;
  }
  std::string String(size_t at) {
    uint32_t len = 0;
    const size_t s = Vector(at, &len);
    if (!ok_ || s == 0) return std::string();
    return std::string(reinterpret_cast<const char*>(p_ + s), len);
  }

 private:
  uint32_t Fail() {
    ok_ = false;
    return 0;
  }
  const uint8_t* p_;
  size_t n_;
  bool ok_ = true;
};

}  // namespace

struct TfLiteTensor {
  TfLiteType type = kTfLiteNoType;
  std::vector<int> dims;
  std::vector<uint8_t> data;
  std::string name;
};

struct TfLiteModel {
  std::vector<std::string> custom_ops;  // Custom names of the ops used.
  std::vector<TfLiteTensor> inputs;
  std::vector<TfLiteTensor> outputs;
};

struct TfLiteInterpreterOptions {
  int num_threads = -1;
  std::vector<const TfLiteOperator*> ops;
  TfLiteErrorReporterFn reporter = nullptr;
  void* reporter_data = nullptr;
};

struct TfLiteInterpreter {
  TfLiteModel model;  // Copies of the tensors' descriptions.
  int num_threads = -1;
  bool allocated = false;
  TfLiteErrorReporterFn reporter = nullptr;
  void* reporter_data = nullptr;
};

namespace {

size_t TypeSize(TfLiteType t) {
  switch (t) {
    case kTfLiteFloat32:
    case kTfLiteInt32:
      return 4;
    case kTfLiteInt64:
      return 8;
    case kTfLiteUInt8:
    case kTfLiteInt8:
      return 1;
    default:
      return 0;
  }
}

// TFLite schema TensorType -> TfLiteType for the types the double knows.
TfLiteType FromSchemaType(uint8_t t) {
  switch (t) {
    case 0:
      return kTfLiteFloat32;
    case 2:
      return kTfLiteInt32;
    case 3:
      return kTfLiteUInt8;
    case 4:
      return kTfLiteInt64;
    case 9:
      return kTfLiteInt8;
    default:
      return kTfLiteNoType;
  }
}

bool ParseModel(const uint8_t* p, size_t n, TfLiteModel* m,
                std::string* error) {
  if (n < 8 || std::memcmp(p + 4, "TFL3", 4) != 0) {
    *error = "The model is not a valid Flatbuffer buffer (no TFL3 identifier)";
    return false;
  }
  Flatbuffer fb(p, n);
  const size_t root = fb.Root();
  uint32_t n_codes = 0, n_subgraphs = 0;
  const size_t codes = fb.Vector(fb.Field(root, 1), &n_codes);
  const size_t subgraphs = fb.Vector(fb.Field(root, 2), &n_subgraphs);
  if (!fb.ok() || n_subgraphs == 0) {
    *error = "The model is not a valid Flatbuffer buffer (no subgraph)";
    return false;
  }
  std::vector<std::string> code_names(n_codes);
  std::vector<bool> is_custom(n_codes, false);
  for (uint32_t i = 0; i < n_codes; ++i) {
    const size_t code = fb.Deref(codes + 4 * i);
    const size_t custom = fb.Field(code, 1);
    const size_t builtin = fb.Field(code, 3);
    const size_t deprecated = fb.Field(code, 0);
    const int32_t b = builtin ? static_cast<int32_t>(fb.U32(builtin))
                              : (deprecated ? fb.U8(deprecated) : 0);
    if (b == kTfLiteBuiltinCustom) {
      is_custom[i] = true;
      code_names[i] = custom ? fb.String(custom) : std::string();
    }
  }
  const size_t sg = fb.Deref(subgraphs);
  uint32_t n_tensors = 0, n_in = 0, n_out = 0, n_ops = 0;
  const size_t tensors = fb.Vector(fb.Field(sg, 0), &n_tensors);
  const size_t ins = fb.Vector(fb.Field(sg, 1), &n_in);
  const size_t outs = fb.Vector(fb.Field(sg, 2), &n_out);
  const size_t ops = fb.Vector(fb.Field(sg, 3), &n_ops);
  for (uint32_t i = 0; fb.ok() && i < n_ops; ++i) {
    const size_t op = fb.Deref(ops + 4 * i);
    const size_t idx_field = fb.Field(op, 0);
    const uint32_t idx = idx_field ? fb.U32(idx_field) : 0;
    if (idx >= n_codes) {
      *error = "operator " + std::to_string(i) + " has opcode_index " +
               std::to_string(idx) + " but the model has " +
               std::to_string(n_codes) + " operator codes";
      return false;
    }
    if (is_custom[idx]) {
      bool seen = false;
      for (const std::string& s : m->custom_ops) seen |= s == code_names[idx];
      if (!seen) m->custom_ops.push_back(code_names[idx]);
    }
  }
  auto read_tensor = [&](uint32_t index, TfLiteTensor* t) -> bool {
    if (index >= n_tensors) return false;
    const size_t tensor = fb.Deref(tensors + 4 * index);
    const size_t type = fb.Field(tensor, 1);
    t->type = FromSchemaType(type ? fb.U8(type) : 0);
    const size_t name = fb.Field(tensor, 3);
    t->name = name ? fb.String(name) : std::string();
    uint32_t rank = 0;
    const size_t shape = fb.Vector(fb.Field(tensor, 0), &rank);
    for (uint32_t d = 0; d < rank; ++d) {
      t->dims.push_back(static_cast<int>(fb.U32(shape + 4 * d)));
    }
    return fb.ok();
  };
  for (uint32_t i = 0; i < n_in; ++i) {
    TfLiteTensor t;
    if (!read_tensor(fb.U32(ins + 4 * i), &t)) break;
    m->inputs.push_back(t);
  }
  for (uint32_t i = 0; i < n_out; ++i) {
    TfLiteTensor t;
    if (!read_tensor(fb.U32(outs + 4 * i), &t)) break;
    m->outputs.push_back(t);
  }
  if (!fb.ok()) {
    *error =
        "The model is not a valid Flatbuffer buffer (offset out of "
        "range in " +
        std::to_string(n) + " bytes)";
    return false;
  }
  return true;
}

bool Allocate(TfLiteTensor* t, std::string* error) {
  size_t count = 1;
  for (int d : t->dims) {
    if (d < 0) {
      *error = "tensor '" + t->name + "' has an unknown dimension";
      return false;
    }
    count *= static_cast<size_t>(d);
  }
  if (TypeSize(t->type) == 0) {
    *error = "tensor '" + t->name + "' has a type the double does not know";
    return false;
  }
  t->data.assign(count * TypeSize(t->type), 0);
  return true;
}

}  // namespace

extern "C" {

TfLiteModel* TfLiteModelCreateWithErrorReporter(const void* model_data,
                                                size_t model_size,
                                                TfLiteErrorReporterFn reporter,
                                                void* user_data) {
  if (model_data == nullptr) {
    Report(reporter, user_data, "model data is null");
    return nullptr;
  }
  TfLiteModel* m = new (std::nothrow) TfLiteModel;
  if (m == nullptr) return nullptr;
  std::string error;
  if (!ParseModel(static_cast<const uint8_t*>(model_data), model_size, m,
                  &error)) {
    Report(reporter, user_data, "%s", error.c_str());
    delete m;
    return nullptr;
  }
  ++g_live;
  return m;
}

void TfLiteModelDelete(TfLiteModel* model) {
  if (model == nullptr) return;
  --g_live;
  delete model;
}

TfLiteInterpreterOptions* TfLiteInterpreterOptionsCreate(void) {
  TfLiteInterpreterOptions* o = new (std::nothrow) TfLiteInterpreterOptions;
  if (o != nullptr) ++g_live;
  std::lock_guard<std::mutex> lock(g_mu);
  g_last_ops.clear();
  return o;
}

void TfLiteInterpreterOptionsDelete(TfLiteInterpreterOptions* options) {
  if (options == nullptr) return;
  --g_live;
  delete options;
}

void TfLiteInterpreterOptionsSetNumThreads(TfLiteInterpreterOptions* options,
                                           int32_t num_threads) {
  options->num_threads = num_threads;
}

void TfLiteInterpreterOptionsAddOperator(TfLiteInterpreterOptions* options,
                                         const TfLiteOperator* op) {
  std::lock_guard<std::mutex> lock(g_mu);
  if (op == nullptr) {
    g_problems += "AddOperator(null); ";
    return;
  }
  const std::string name = op->custom_name ? op->custom_name : "";
  if (op->builtin_code != kTfLiteBuiltinCustom || name.empty()) {
    g_problems += "operator '" + name + "' is not a named custom op; ";
  }
  if (op->prepare == nullptr || op->invoke == nullptr || op->init == nullptr ||
      op->free == nullptr) {
    g_problems += "operator '" + name + "' lacks init/free/prepare/invoke; ";
  }
  options->ops.push_back(op);
  g_last_ops.push_back(name);
}

void TfLiteInterpreterOptionsSetErrorReporter(TfLiteInterpreterOptions* options,
                                              TfLiteErrorReporterFn reporter,
                                              void* user_data) {
  options->reporter = reporter;
  options->reporter_data = user_data;
}

TfLiteInterpreter* TfLiteInterpreterCreate(
    const TfLiteModel* model, const TfLiteInterpreterOptions* options) {
  const TfLiteInterpreterOptions defaults;
  const TfLiteInterpreterOptions& o = options ? *options : defaults;
  if (model == nullptr) {
    Report(o.reporter, o.reporter_data, "model is null");
    return nullptr;
  }
  for (const std::string& needed : model->custom_ops) {
    bool found = false;
    for (const TfLiteOperator* op : o.ops) {
      found |= op->custom_name != nullptr && needed == op->custom_name;
    }
    if (!found) {
      // The message TFLite's InterpreterBuilder reports.
      Report(o.reporter, o.reporter_data,
             "Encountered unresolved custom op: %s.", needed.c_str());
      return nullptr;
    }
  }
  TfLiteInterpreter* it = new (std::nothrow) TfLiteInterpreter;
  if (it == nullptr) return nullptr;
  it->model = *model;
  it->num_threads = o.num_threads;
  it->reporter = o.reporter;
  it->reporter_data = o.reporter_data;
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_last_num_threads = o.num_threads;
  }
  ++g_live;
  return it;
}

void TfLiteInterpreterDelete(TfLiteInterpreter* interpreter) {
  if (interpreter == nullptr) return;
  --g_live;
  delete interpreter;
}

int32_t TfLiteInterpreterGetInputTensorCount(const TfLiteInterpreter* it) {
  return static_cast<int32_t>(it->model.inputs.size());
}

int32_t TfLiteInterpreterGetOutputTensorCount(const TfLiteInterpreter* it) {
  return static_cast<int32_t>(it->model.outputs.size());
}

TfLiteTensor* TfLiteInterpreterGetInputTensor(const TfLiteInterpreter* it,
                                              int32_t index) {
  if (index < 0 || index >= TfLiteInterpreterGetInputTensorCount(it)) {
    return nullptr;
  }
  return const_cast<TfLiteTensor*>(&it->model.inputs[index]);
}

const TfLiteTensor* TfLiteInterpreterGetOutputTensor(
    const TfLiteInterpreter* it, int32_t index) {
  if (index < 0 || index >= TfLiteInterpreterGetOutputTensorCount(it)) {
    return nullptr;
  }
  return &it->model.outputs[index];
}

TfLiteStatus TfLiteInterpreterAllocateTensors(TfLiteInterpreter* it) {
  std::string error;
  for (TfLiteTensor& t : it->model.inputs) {
    if (!Allocate(&t, &error)) {
      Report(it->reporter, it->reporter_data, "%s", error.c_str());
      return kTfLiteError;
    }
  }
  for (TfLiteTensor& t : it->model.outputs) {
    if (!Allocate(&t, &error)) {
      Report(it->reporter, it->reporter_data, "%s", error.c_str());
      return kTfLiteError;
    }
  }
  it->allocated = true;
  return kTfLiteOk;
}

TfLiteStatus TfLiteInterpreterInvoke(TfLiteInterpreter* it) {
  if (!it->allocated) {
    Report(it->reporter, it->reporter_data,
           "Invoke called on model that is not ready.");
    return kTfLiteError;
  }
  double mean = 0.0;
  if (!it->model.inputs.empty() && it->model.inputs[0].type == kTfLiteFloat32) {
    const TfLiteTensor& in = it->model.inputs[0];
    const size_t n = in.data.size() / sizeof(float);
    for (size_t i = 0; i < n; ++i) {
      float v;
      std::memcpy(&v, &in.data[i * sizeof(float)], sizeof(v));
      mean += v;
    }
    if (n > 0) mean /= static_cast<double>(n);
  }
  for (TfLiteTensor& out : it->model.outputs) {
    if (out.type != kTfLiteFloat32) continue;
    for (size_t j = 0; j < out.data.size() / sizeof(float); ++j) {
      const float v = static_cast<float>(mean + static_cast<double>(j));
      std::memcpy(&out.data[j * sizeof(float)], &v, sizeof(v));
    }
  }
  return kTfLiteOk;
}

TfLiteType TfLiteTensorType(const TfLiteTensor* t) { return t->type; }

int32_t TfLiteTensorNumDims(const TfLiteTensor* t) {
  return static_cast<int32_t>(t->dims.size());
}

int32_t TfLiteTensorDim(const TfLiteTensor* t, int32_t i) {
  return (i >= 0 && i < TfLiteTensorNumDims(t)) ? t->dims[i] : -1;
}

size_t TfLiteTensorByteSize(const TfLiteTensor* t) { return t->data.size(); }

const char* TfLiteTensorName(const TfLiteTensor* t) { return t->name.c_str(); }

// Like the runtime: a size other than the tensor's byte size is an error.
TfLiteStatus TfLiteTensorCopyFromBuffer(TfLiteTensor* t, const void* data,
                                        size_t size) {
  if (size != t->data.size()) return kTfLiteError;
  if (size > 0) std::memcpy(t->data.data(), data, size);
  return kTfLiteOk;
}

TfLiteStatus TfLiteTensorCopyToBuffer(const TfLiteTensor* t, void* data,
                                      size_t size) {
  if (size != t->data.size()) return kTfLiteError;
  if (size > 0) std::memcpy(data, t->data.data(), size);
  return kTfLiteOk;
}

}  // extern "C"

namespace sttn {
namespace android_double {

int LastNumThreads() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_last_num_threads;
}

std::vector<std::string> LastRegisteredOps() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_last_ops;
}

std::string RegistrationProblems() {
  std::lock_guard<std::mutex> lock(g_mu);
  return g_problems;
}

int LiveObjects() { return g_live.load(); }

}  // namespace android_double
}  // namespace sttn
