#include "android_demo/native/common/session.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <new>

#include "export/tflite/sttn_ops.h"

// The lead may add `void sttn_set_num_threads(int)` to the kernels (their own
// thread pool). Declared weak: when the kernels define it, it is called; when
// they do not, the address is null and nothing is called. Nothing else in
// android_demo needs to change when it appears.
extern "C" void sttn_set_num_threads(int num_threads) __attribute__((weak));

namespace sttn {
namespace android {

void SetSttnKernelThreads(int num_threads) {
  if (sttn_set_num_threads != nullptr) sttn_set_num_threads(num_threads);
}

void ErrorSink::Report(void* user_data, const char* format, va_list args) {
  if (user_data == nullptr || format == nullptr) return;
  char buffer[1024];
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  ErrorSink* sink = static_cast<ErrorSink*>(user_data);
  try {
    if (!sink->messages_.empty()) sink->messages_ += "; ";
    sink->messages_ += buffer;
  } catch (...) {
    // Out of memory while recording a message: drop it, never throw into C.
  }
}

std::string ErrorSink::Take() {
  std::string out;
  out.swap(messages_);
  return out;
}

std::string TypeName(int type) {
  switch (type) {
    case kTfLiteFloat32:
      return "float32";
    case kTfLiteInt32:
      return "int32";
    case kTfLiteUInt8:
      return "uint8";
    case kTfLiteInt64:
      return "int64";
    case kTfLiteInt8:
      return "int8";
    default:
      return "type " + std::to_string(type);
  }
}

std::string ShapeString(const std::vector<int>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

namespace {

std::vector<int> Dims(const TfLiteTensor* t) {
  std::vector<int> dims;
  if (t == nullptr) return dims;
  const int32_t n = TfLiteTensorNumDims(t);
  for (int32_t i = 0; i < n; ++i) dims.push_back(TfLiteTensorDim(t, i));
  return dims;
}

// "message: runtime said" or just "message".
std::string WithRuntime(const std::string& message, ErrorSink* sink) {
  const std::string runtime = sink != nullptr ? sink->Take() : std::string();
  if (runtime.empty()) return message;
  return message + ": " + runtime;
}

bool FloatCount(const TfLiteTensor* t, const char* what, int index,
                size_t* count, std::string* error) {
  if (t == nullptr) {
    *error =
        std::string("no ") + what + " tensor at index " + std::to_string(index);
    return false;
  }
  if (TfLiteTensorType(t) != kTfLiteFloat32) {
    *error = std::string(what) + " " + std::to_string(index) +
             " must be float32; the model's is " +
             TypeName(TfLiteTensorType(t));
    return false;
  }
  *count = TfLiteTensorByteSize(t) / sizeof(float);
  return true;
}

}  // namespace

std::unique_ptr<Session> Session::Create(const void* model_data,
                                         size_t model_size,
                                         const SessionOptions& options,
                                         std::string* error,
                                         bool* invalid_argument) {
  if (invalid_argument != nullptr) *invalid_argument = true;
  if (model_data == nullptr || model_size == 0) {
    *error = "the model is empty (received 0 bytes)";
    return nullptr;
  }
  if (options.num_threads == 0 || options.num_threads < -1) {
    *error = "num_threads must be a positive integer or -1; received " +
             std::to_string(options.num_threads);
    return nullptr;
  }
  if (options.kernel_type != sttn::tflite::kReference &&
      options.kernel_type != sttn::tflite::kOptimized) {
    *error = "kernel_type must be 0 (reference) or 1 (optimized); received " +
             std::to_string(options.kernel_type);
    return nullptr;
  }
  if (invalid_argument != nullptr) *invalid_argument = false;
  std::unique_ptr<Session> s(new Session);
  s->sink_.reset(new ErrorSink);
  s->model_data_.assign(static_cast<const uint8_t*>(model_data),
                        static_cast<const uint8_t*>(model_data) + model_size);
  s->model_ = TfLiteModelCreateWithErrorReporter(
      s->model_data_.data(), s->model_data_.size(), &ErrorSink::Report,
      s->sink_.get());
  if (s->model_ == nullptr) {
    *error = WithRuntime(
        "not a valid TFLite model (" + std::to_string(model_size) + " bytes)",
        s->sink_.get());
    return nullptr;
  }
  TfLiteInterpreterOptions* opts = TfLiteInterpreterOptionsCreate();
  if (opts == nullptr) {
    *error = "TfLiteInterpreterOptionsCreate failed (out of memory?)";
    return nullptr;
  }
  TfLiteInterpreterOptionsSetErrorReporter(opts, &ErrorSink::Report,
                                           s->sink_.get());
  TfLiteInterpreterOptionsSetNumThreads(opts, options.num_threads);
  SetSttnKernelThreads(options.num_threads);
  for (int i = 0; i < sttn_tflite_num_ops(); ++i) {
    const TfLiteOperator* op = sttn_tflite_operator(i, options.kernel_type);
    if (op == nullptr) {
      TfLiteInterpreterOptionsDelete(opts);
      *error = std::string("the sttn kernels returned no operator for ") +
               sttn_tflite_op_name(i);
      return nullptr;
    }
    TfLiteInterpreterOptionsAddOperator(opts, op);
    s->registered_ops_.push_back(sttn_tflite_op_name(i));
  }
  s->interpreter_ = TfLiteInterpreterCreate(s->model_, opts);
  TfLiteInterpreterOptionsDelete(opts);
  if (s->interpreter_ == nullptr) {
    *error = WithRuntime("could not build an interpreter for the model",
                         s->sink_.get());
    return nullptr;
  }
  if (TfLiteInterpreterAllocateTensors(s->interpreter_) != kTfLiteOk) {
    *error = WithRuntime("AllocateTensors failed", s->sink_.get());
    return nullptr;
  }
  return s;
}

Session::~Session() {
  if (interpreter_ != nullptr) TfLiteInterpreterDelete(interpreter_);
  if (model_ != nullptr) TfLiteModelDelete(model_);
}

int Session::num_inputs() const {
  return TfLiteInterpreterGetInputTensorCount(interpreter_);
}

int Session::num_outputs() const {
  return TfLiteInterpreterGetOutputTensorCount(interpreter_);
}

std::vector<int> Session::InputShape(int index) const {
  if (index < 0 || index >= num_inputs()) return {};
  return Dims(TfLiteInterpreterGetInputTensor(interpreter_, index));
}

std::vector<int> Session::OutputShape(int index) const {
  if (index < 0 || index >= num_outputs()) return {};
  return Dims(TfLiteInterpreterGetOutputTensor(interpreter_, index));
}

std::string Session::InputName(int index) const {
  if (index < 0 || index >= num_inputs()) return std::string();
  const char* name =
      TfLiteTensorName(TfLiteInterpreterGetInputTensor(interpreter_, index));
  return name != nullptr ? name : "";
}

bool Session::InputFloatCount(int index, size_t* count,
                              std::string* error) const {
  const TfLiteTensor* t =
      (index >= 0 && index < num_inputs())
          ? TfLiteInterpreterGetInputTensor(interpreter_, index)
          : nullptr;
  return FloatCount(t, "input", index, count, error);
}

bool Session::OutputFloatCount(int index, size_t* count,
                               std::string* error) const {
  const TfLiteTensor* t =
      (index >= 0 && index < num_outputs())
          ? TfLiteInterpreterGetOutputTensor(interpreter_, index)
          : nullptr;
  return FloatCount(t, "output", index, count, error);
}

bool Session::SetInput(int index, const float* data, size_t count,
                       std::string* error) {
  size_t expected = 0;
  if (!InputFloatCount(index, &expected, error)) return false;
  if (count != expected) {
    *error = "input " + std::to_string(index) + " of shape " +
             ShapeString(InputShape(index)) + " takes " +
             std::to_string(expected) + " float32 values; received " +
             std::to_string(count);
    return false;
  }
  TfLiteTensor* t = TfLiteInterpreterGetInputTensor(interpreter_, index);
  if (TfLiteTensorCopyFromBuffer(t, data, count * sizeof(float)) != kTfLiteOk) {
    *error = WithRuntime("copying input " + std::to_string(index) + " failed",
                         sink_.get());
    return false;
  }
  return true;
}

bool Session::FillInputBytes(int index, uint8_t (*next)(void*), void* state,
                             std::string* error) {
  if (index < 0 || index >= num_inputs()) {
    *error = "no input tensor at index " + std::to_string(index);
    return false;
  }
  TfLiteTensor* t = TfLiteInterpreterGetInputTensor(interpreter_, index);
  std::vector<uint8_t> bytes(TfLiteTensorByteSize(t));
  if (TfLiteTensorType(t) == kTfLiteFloat32) {
    // Uniform floats in [0, 1), like preprocessed pixels.
    for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
      const float v = static_cast<float>(next(state)) / 256.0f;
      std::memcpy(&bytes[i], &v, sizeof(v));
    }
  } else {
    for (uint8_t& b : bytes) b = next(state);
  }
  if (TfLiteTensorCopyFromBuffer(t, bytes.data(), bytes.size()) != kTfLiteOk) {
    *error = WithRuntime("copying input " + std::to_string(index) + " failed",
                         sink_.get());
    return false;
  }
  return true;
}

bool Session::Invoke(std::string* error) {
  if (TfLiteInterpreterInvoke(interpreter_) != kTfLiteOk) {
    *error = WithRuntime("Invoke failed", sink_.get());
    return false;
  }
  return true;
}

bool Session::GetOutput(int index, float* data, size_t count,
                        std::string* error) const {
  size_t expected = 0;
  if (!OutputFloatCount(index, &expected, error)) return false;
  if (count != expected) {
    *error = "output " + std::to_string(index) + " of shape " +
             ShapeString(OutputShape(index)) + " holds " +
             std::to_string(expected) + " float32 values; the buffer has " +
             std::to_string(count);
    return false;
  }
  const TfLiteTensor* t = TfLiteInterpreterGetOutputTensor(interpreter_, index);
  if (TfLiteTensorCopyToBuffer(t, data, count * sizeof(float)) != kTfLiteOk) {
    *error = WithRuntime("copying output " + std::to_string(index) + " failed",
                         sink_.get());
    return false;
  }
  return true;
}

}  // namespace android
}  // namespace sttn
