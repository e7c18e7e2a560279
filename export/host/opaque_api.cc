// Host implementation of the opaque C API subset (export/tflite/c_api_subset.h)
// for runtimes that do not export it (the ai-edge-litert wheels). Like the
// runtime's own implementation, the opaque types are the classic structs
// (export/host/abi.h) seen through a cast. The symbols are hidden: they bind
// inside our library only and never interpose on a runtime that has them.
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "export/host/abi.h"
#include "export/host/operator.h"
#include "export/tflite/c_api_subset.h"

namespace {

using sttn::host::abi::Context;
using sttn::host::abi::Node;
using sttn::host::abi::Tensor;

inline const Context* AsContext(const TfLiteOpaqueContext* c) {
  return reinterpret_cast<const Context*>(c);
}
inline Context* AsContext(TfLiteOpaqueContext* c) {
  return reinterpret_cast<Context*>(c);
}
inline const Node* AsNode(const TfLiteOpaqueNode* n) {
  return reinterpret_cast<const Node*>(n);
}
inline const Tensor* AsTensor(const TfLiteOpaqueTensor* t) {
  return reinterpret_cast<const Tensor*>(t);
}

Tensor* TensorAt(const Context* ctx, const TfLiteIntArray* indices, int i) {
  if (ctx == nullptr || indices == nullptr || i < 0 || i >= indices->size) {
    return nullptr;
  }
  const int t = indices->data[i];
  if (t < 0 || static_cast<size_t>(t) >= ctx->tensors_size) return nullptr;
  return &ctx->tensors[t];
}

}  // namespace

extern "C" {

TfLiteIntArray* TfLiteIntArrayCreate(int size) {
  if (size < 0) return nullptr;
  // The runtime releases it with free(), like its own TfLiteIntArrayFree.
  TfLiteIntArray* a = static_cast<TfLiteIntArray*>(
      std::malloc(sizeof(TfLiteIntArray) + sizeof(int) * size));
  if (a != nullptr) a->size = size;
  return a;
}

TfLiteOperator* TfLiteOperatorCreate(TfLiteBuiltinOperator builtin_code,
                                     const char* custom_name, int version) {
  TfLiteOperator* op = new (std::nothrow) TfLiteOperator;
  if (op == nullptr) return nullptr;
  op->builtin_code = builtin_code;
  op->custom_name = custom_name;
  op->version = version;
  return op;
}

void TfLiteOperatorSetInit(TfLiteOperator* op,
                           void* (*init)(TfLiteOpaqueContext*, const char*,
                                         size_t)) {
  op->init = init;
}

void TfLiteOperatorSetFree(TfLiteOperator* op,
                           void (*free_fn)(TfLiteOpaqueContext*, void*)) {
  op->free = free_fn;
}

void TfLiteOperatorSetPrepare(TfLiteOperator* op,
                              TfLiteStatus (*prepare)(TfLiteOpaqueContext*,
                                                      TfLiteOpaqueNode*)) {
  op->prepare = prepare;
}

void TfLiteOperatorSetInvoke(TfLiteOperator* op,
                             TfLiteStatus (*invoke)(TfLiteOpaqueContext*,
                                                    TfLiteOpaqueNode*)) {
  op->invoke = invoke;
}

int TfLiteOpaqueNodeNumberOfInputs(const TfLiteOpaqueNode* node) {
  const Node* n = AsNode(node);
  return n->inputs != nullptr ? n->inputs->size : 0;
}

int TfLiteOpaqueNodeNumberOfOutputs(const TfLiteOpaqueNode* node) {
  const Node* n = AsNode(node);
  return n->outputs != nullptr ? n->outputs->size : 0;
}

void* TfLiteOpaqueNodeGetUserData(const TfLiteOpaqueNode* node) {
  return AsNode(node)->user_data;
}

const TfLiteOpaqueTensor* TfLiteOpaqueNodeGetInput(
    const TfLiteOpaqueContext* context, const TfLiteOpaqueNode* node,
    int index) {
  return reinterpret_cast<const TfLiteOpaqueTensor*>(
      TensorAt(AsContext(context), AsNode(node)->inputs, index));
}

TfLiteOpaqueTensor* TfLiteOpaqueNodeGetOutput(TfLiteOpaqueContext* context,
                                              const TfLiteOpaqueNode* node,
                                              int index) {
  return reinterpret_cast<TfLiteOpaqueTensor*>(
      TensorAt(AsContext(context), AsNode(node)->outputs, index));
}

TfLiteType TfLiteOpaqueTensorType(const TfLiteOpaqueTensor* tensor) {
  return static_cast<TfLiteType>(AsTensor(tensor)->type);
}

int32_t TfLiteOpaqueTensorNumDims(const TfLiteOpaqueTensor* tensor) {
  const Tensor* t = AsTensor(tensor);
  return t->dims != nullptr ? t->dims->size : -1;
}

int32_t TfLiteOpaqueTensorDim(const TfLiteOpaqueTensor* tensor,
                              int32_t dim_index) {
  const Tensor* t = AsTensor(tensor);
  if (t->dims == nullptr || dim_index < 0 || dim_index >= t->dims->size) {
    return -1;
  }
  return t->dims->data[dim_index];
}

size_t TfLiteOpaqueTensorByteSize(const TfLiteOpaqueTensor* tensor) {
  return AsTensor(tensor)->bytes;
}

void* TfLiteOpaqueTensorData(const TfLiteOpaqueTensor* tensor) {
  return tensor != nullptr ? AsTensor(tensor)->data : nullptr;
}

TfLiteAllocationType TfLiteOpaqueTensorGetAllocationType(
    const TfLiteOpaqueTensor* tensor) {
  return static_cast<TfLiteAllocationType>(AsTensor(tensor)->allocation_type);
}

TfLiteStatus TfLiteOpaqueContextResizeTensor(TfLiteOpaqueContext* context,
                                             TfLiteOpaqueTensor* tensor,
                                             TfLiteIntArray* new_size) {
  Context* ctx = AsContext(context);
  return ctx->ResizeTensor(ctx, reinterpret_cast<Tensor*>(tensor), new_size);
}

void TfLiteOpaqueContextReportError(TfLiteOpaqueContext* context,
                                    const char* format, ...) {
  char message[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof(message), format, args);
  va_end(args);
  Context* ctx = AsContext(context);
  if (ctx != nullptr && ctx->ReportError != nullptr) {
    ctx->ReportError(ctx, "%s", message);
  }
}

}  // extern "C"
