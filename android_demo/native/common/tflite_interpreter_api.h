// Our own declarations of the interpreter-level functions of the TFLite C API
// that android_demo calls (model, options, interpreter, tensor). They extend
// export/tflite/c_api_subset.h (the opaque kernel-side subset) in the same
// way: written by us, only what we use, names and signatures as in the public
// TFLite C API (tensorflow/lite/core/c/c_api.h), so the code links unchanged
// against a runtime library that exports them.
//
// Which library provides them on Android (see android_demo/README.md):
//   all functions below: the LiteRT 1.x AAR's
//   jni/<abi>/libtensorflowlite_jni.so (the TFLite C API is documented as
//   exported there; the opaque-operator functions TfLiteOperator* are NOT
//   verified to be exported by it: check with `nm -D --defined-only` on a
//   machine that can reach Google's Maven).
// On the build machines: android_demo/test_double/ implements them as a
// test double (it does not run models).
#ifndef STTN_ANDROID_DEMO_NATIVE_COMMON_TFLITE_INTERPRETER_API_H_
#define STTN_ANDROID_DEMO_NATIVE_COMMON_TFLITE_INTERPRETER_API_H_

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "export/tflite/c_api_subset.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct TfLiteModel TfLiteModel;
typedef struct TfLiteInterpreterOptions TfLiteInterpreterOptions;
typedef struct TfLiteInterpreter TfLiteInterpreter;
// The runtime's TfLiteTensor; used only through the functions below.
typedef struct TfLiteTensor TfLiteTensor;

typedef void (*TfLiteErrorReporterFn)(void* user_data, const char* format,
                                      va_list args);

// Model. `model_data` must outlive the model and every interpreter built
// from it. Returns null on an invalid model (reported through `reporter`).
TfLiteModel* TfLiteModelCreateWithErrorReporter(const void* model_data,
                                                size_t model_size,
                                                TfLiteErrorReporterFn reporter,
                                                void* user_data);
void TfLiteModelDelete(TfLiteModel* model);

// Interpreter options. The interpreter copies what it needs at creation;
// registered operators must outlive the interpreter.
TfLiteInterpreterOptions* TfLiteInterpreterOptionsCreate(void);
void TfLiteInterpreterOptionsDelete(TfLiteInterpreterOptions* options);
void TfLiteInterpreterOptionsSetNumThreads(TfLiteInterpreterOptions* options,
                                           int32_t num_threads);
void TfLiteInterpreterOptionsAddOperator(TfLiteInterpreterOptions* options,
                                         const TfLiteOperator* registration);
void TfLiteInterpreterOptionsSetErrorReporter(TfLiteInterpreterOptions* options,
                                              TfLiteErrorReporterFn reporter,
                                              void* user_data);

// Interpreter. Create returns null on failure (for example an op that no
// registration resolves), reported through the options' error reporter.
TfLiteInterpreter* TfLiteInterpreterCreate(
    const TfLiteModel* model, const TfLiteInterpreterOptions* optional_options);
void TfLiteInterpreterDelete(TfLiteInterpreter* interpreter);
int32_t TfLiteInterpreterGetInputTensorCount(
    const TfLiteInterpreter* interpreter);
int32_t TfLiteInterpreterGetOutputTensorCount(
    const TfLiteInterpreter* interpreter);
TfLiteTensor* TfLiteInterpreterGetInputTensor(
    const TfLiteInterpreter* interpreter, int32_t input_index);
const TfLiteTensor* TfLiteInterpreterGetOutputTensor(
    const TfLiteInterpreter* interpreter, int32_t output_index);
TfLiteStatus TfLiteInterpreterAllocateTensors(TfLiteInterpreter* interpreter);
TfLiteStatus TfLiteInterpreterInvoke(TfLiteInterpreter* interpreter);

// Tensor.
TfLiteType TfLiteTensorType(const TfLiteTensor* tensor);
int32_t TfLiteTensorNumDims(const TfLiteTensor* tensor);
int32_t TfLiteTensorDim(const TfLiteTensor* tensor, int32_t dim_index);
size_t TfLiteTensorByteSize(const TfLiteTensor* tensor);
const char* TfLiteTensorName(const TfLiteTensor* tensor);
TfLiteStatus TfLiteTensorCopyFromBuffer(TfLiteTensor* tensor,
                                        const void* input_data,
                                        size_t input_data_size);
TfLiteStatus TfLiteTensorCopyToBuffer(const TfLiteTensor* output_tensor,
                                      void* output_data,
                                      size_t output_data_size);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // STTN_ANDROID_DEMO_NATIVE_COMMON_TFLITE_INTERPRETER_API_H_
