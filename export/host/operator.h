// The host's definition of TfLiteOperator (opaque to the kernels): what
// TfLiteOperatorCreate / TfLiteOperatorSet* record, read back by the adapter
// that turns it into a classic TfLiteRegistration.
#ifndef STTN_EXPORT_HOST_OPERATOR_H_
#define STTN_EXPORT_HOST_OPERATOR_H_

#include "export/tflite/c_api_subset.h"

struct TfLiteOperator {
  TfLiteBuiltinOperator builtin_code = 0;
  const char* custom_name = nullptr;
  int version = 0;
  void* (*init)(TfLiteOpaqueContext*, const char*, size_t) = nullptr;
  void (*free)(TfLiteOpaqueContext*, void*) = nullptr;
  TfLiteStatus (*prepare)(TfLiteOpaqueContext*, TfLiteOpaqueNode*) = nullptr;
  TfLiteStatus (*invoke)(TfLiteOpaqueContext*, TfLiteOpaqueNode*) = nullptr;
};

#endif  // STTN_EXPORT_HOST_OPERATOR_H_
