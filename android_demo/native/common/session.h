// One TFLite interpreter with every sttn op registered, built through the
// TFLite C API; shared by the app's JNI library and sttn_benchmark_model.
// Never aborts: every failure returns false / null with a message that names
// what was wrong and what was received, including the runtime's own messages
// (captured with an error reporter).
#ifndef STTN_ANDROID_DEMO_NATIVE_COMMON_SESSION_H_
#define STTN_ANDROID_DEMO_NATIVE_COMMON_SESSION_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "android_demo/native/common/tflite_interpreter_api.h"

namespace sttn {
namespace android {

// Collects what the runtime reports (model parsing, op resolution, Prepare
// and Invoke errors of any op, ours included).
class ErrorSink {
 public:
  static void Report(void* user_data, const char* format, va_list args);
  // The messages since the last Take(), joined by "; ", then cleared.
  std::string Take();

 private:
  std::string messages_;
};

struct SessionOptions {
  int num_threads = 1;  // > 0, or -1 for the runtime's default.
  int kernel_type = 1;  // sttn::tflite::kOptimized; 0 is kReference.
};

// Passes the thread count to the sttn kernels' own thread pool when the
// kernels provide one. This is the single place that does it (see session.cc).
void SetSttnKernelThreads(int num_threads);

class Session {
 public:
  // Builds model, options (all sttn ops, threads, error reporter) and
  // interpreter, and allocates tensors. Copies `model_data`. On failure
  // returns null and sets *error; *invalid_argument (when given) tells a bad
  // argument (empty model, thread count, kernel type) from a runtime failure.
  static std::unique_ptr<Session> Create(const void* model_data,
                                         size_t model_size,
                                         const SessionOptions& options,
                                         std::string* error,
                                         bool* invalid_argument = nullptr);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  int num_inputs() const;
  int num_outputs() const;
  // Dims of input/output `index` (empty if the index is out of range).
  std::vector<int> InputShape(int index) const;
  std::vector<int> OutputShape(int index) const;
  // The tensor's name in the model ("" if the index is out of range).
  std::string InputName(int index) const;
  // Element counts of a float32 tensor; false with *error otherwise.
  bool InputFloatCount(int index, size_t* count, std::string* error) const;
  bool OutputFloatCount(int index, size_t* count, std::string* error) const;
  // Copies `count` floats into input `index`; the count must equal the
  // tensor's element count and the tensor must be float32.
  bool SetInput(int index, const float* data, size_t count, std::string* error);
  // Fills input `index` with bytes regardless of type (benchmark inputs).
  bool FillInputBytes(int index, uint8_t (*next)(void*), void* state,
                      std::string* error);
  bool Invoke(std::string* error);
  bool GetOutput(int index, float* data, size_t count,
                 std::string* error) const;
  // Sttn ops registered (names), in registration order.
  const std::vector<std::string>& registered_ops() const {
    return registered_ops_;
  }

 private:
  Session() = default;
  std::vector<uint8_t> model_data_;
  std::unique_ptr<ErrorSink> sink_;
  TfLiteModel* model_ = nullptr;
  TfLiteInterpreter* interpreter_ = nullptr;
  std::vector<std::string> registered_ops_;
};

// "float32", "int8", ... or "type <n>" for the TfLiteType value `type`.
std::string TypeName(int type);
// "[1, 28, 28, 1]".
std::string ShapeString(const std::vector<int>& shape);

}  // namespace android
}  // namespace sttn

#endif  // STTN_ANDROID_DEMO_NATIVE_COMMON_SESSION_H_
