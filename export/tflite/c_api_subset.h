// Our own declarations of the subset of the TFLite *opaque* C API that the
// sttn kernels use (no TFLite header exists on the build machines, and none is
// vendored). Names, enum values and signatures follow the public TFLite C API
// (tensorflow/lite/core/c/c_api_types.h, c_api_opaque.h, operator.h), so this
// source links unchanged against a real runtime that exports them (Android:
// the LiteRT AAR's runtime library). On the host, where no wheel exports them,
// export/host/ implements them on top of the classic structs.
#ifndef STTN_EXPORT_TFLITE_C_API_SUBSET_H_
#define STTN_EXPORT_TFLITE_C_API_SUBSET_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum TfLiteStatus {
  kTfLiteOk = 0,
  kTfLiteError = 1,
} TfLiteStatus;

// Values as in TFLite's c_api_types.h (only those we name are listed).
typedef enum {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt64 = 4,
  kTfLiteInt8 = 9,
} TfLiteType;

typedef enum TfLiteAllocationType {
  kTfLiteMemNone = 0,
  kTfLiteMmapRo = 1,
  kTfLiteArenaRw = 2,
  kTfLiteArenaRwPersistent = 3,
  kTfLiteDynamic = 4,
  kTfLitePersistentRo = 5,
  kTfLiteCustom = 6,
  kTfLiteVariantObject = 7,
} TfLiteAllocationType;

// TfLiteBuiltinOperator is an int enum; custom ops use kTfLiteBuiltinCustom.
typedef int32_t TfLiteBuiltinOperator;
enum { kTfLiteBuiltinCustom = 32 };

// Variable-size int array; the runtime owns and frees (free()) arrays passed
// to TfLiteOpaqueContextResizeTensor.
typedef struct TfLiteIntArray {
  int size;
  int data[];
} TfLiteIntArray;

typedef struct TfLiteOpaqueContext TfLiteOpaqueContext;
typedef struct TfLiteOpaqueNode TfLiteOpaqueNode;
typedef struct TfLiteOpaqueTensor TfLiteOpaqueTensor;
typedef struct TfLiteOperator TfLiteOperator;

TfLiteIntArray* TfLiteIntArrayCreate(int size);

TfLiteOperator* TfLiteOperatorCreate(TfLiteBuiltinOperator builtin_code,
                                     const char* custom_name, int version);
void TfLiteOperatorSetInit(TfLiteOperator* registration,
                           void* (*init)(TfLiteOpaqueContext* context,
                                         const char* buffer, size_t length));
void TfLiteOperatorSetFree(TfLiteOperator* registration,
                           void (*free)(TfLiteOpaqueContext* context,
                                        void* data));
void TfLiteOperatorSetPrepare(
    TfLiteOperator* registration,
    TfLiteStatus (*prepare)(TfLiteOpaqueContext* context,
                            TfLiteOpaqueNode* node));
void TfLiteOperatorSetInvoke(
    TfLiteOperator* registration,
    TfLiteStatus (*invoke)(TfLiteOpaqueContext* context,
                           TfLiteOpaqueNode* node));

int TfLiteOpaqueNodeNumberOfInputs(const TfLiteOpaqueNode* opaque_node);
int TfLiteOpaqueNodeNumberOfOutputs(const TfLiteOpaqueNode* opaque_node);
void* TfLiteOpaqueNodeGetUserData(const TfLiteOpaqueNode* opaque_node);
const TfLiteOpaqueTensor* TfLiteOpaqueNodeGetInput(
    const TfLiteOpaqueContext* opaque_context,
    const TfLiteOpaqueNode* opaque_node, int index);
TfLiteOpaqueTensor* TfLiteOpaqueNodeGetOutput(
    TfLiteOpaqueContext* opaque_context, const TfLiteOpaqueNode* opaque_node,
    int index);

TfLiteType TfLiteOpaqueTensorType(const TfLiteOpaqueTensor* opaque_tensor);
int32_t TfLiteOpaqueTensorNumDims(const TfLiteOpaqueTensor* opaque_tensor);
int32_t TfLiteOpaqueTensorDim(const TfLiteOpaqueTensor* opaque_tensor,
                              int32_t dim_index);
size_t TfLiteOpaqueTensorByteSize(const TfLiteOpaqueTensor* opaque_tensor);
void* TfLiteOpaqueTensorData(const TfLiteOpaqueTensor* opaque_tensor);
TfLiteAllocationType TfLiteOpaqueTensorGetAllocationType(
    const TfLiteOpaqueTensor* opaque_tensor);

TfLiteStatus TfLiteOpaqueContextResizeTensor(TfLiteOpaqueContext* context,
                                             TfLiteOpaqueTensor* tensor,
                                             TfLiteIntArray* new_size);
void TfLiteOpaqueContextReportError(TfLiteOpaqueContext* opaque_context,
                                    const char* format, ...);

#ifdef __cplusplus
}  // extern "C"
#endif

#endif  // STTN_EXPORT_TFLITE_C_API_SUBSET_H_
