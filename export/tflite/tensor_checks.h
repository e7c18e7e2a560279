// Prepare's checks of a node's tensors and the loading of its constant
// inputs (weights, float vectors, thresholds), shared by every op family.
// Each failure is reported through the context as "<op name>: <what was
// wrong, what was received>" and returns false.
#ifndef STTN_EXPORT_TFLITE_TENSOR_CHECKS_H_
#define STTN_EXPORT_TFLITE_TENSOR_CHECKS_H_

#include <cstdint>

#include "export/tflite/c_api_subset.h"
#include "export/tflite/op_data.h"

namespace sttn {
namespace tflite {
namespace internal {

// Reports "<op name>: <formatted message>" through the context.
void Report(TfLiteOpaqueContext* ctx, const OpData* od, const char* format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

// Checks type and (rank >= 0) rank of a present tensor.
bool CheckTensor(TfLiteOpaqueContext* ctx, const OpData* od,
                 const TfLiteOpaqueTensor* t, const char* what, TfLiteType type,
                 int rank);

// Checks that `t` is a constant (read-only allocation) with data.
bool CheckConstant(TfLiteOpaqueContext* ctx, const OpData* od,
                   const TfLiteOpaqueTensor* t, const char* what);

// Element count of `t`; -1 for an unknown dimension or above 2^40.
int64_t NumElements(const TfLiteOpaqueTensor* t);

// Copies a constant float32 vector [n] (rank 1) into `dst`.
bool LoadFloatVector(TfLiteOpaqueContext* ctx, OpData* od,
                     const TfLiteOpaqueTensor* t, const char* what, int n,
                     HeapArray<float>* dst);

// Validates and copies a constant float32 [3, channels] thresholds tensor
// (rows lo, hi, sgn) into `dst`.
bool LoadThresholds(TfLiteOpaqueContext* ctx, OpData* od,
                    const TfLiteOpaqueTensor* th, const char* what,
                    int channels, HeapArray<float>* dst);

// Validates and unpacks the file-packed weights (in od->weight_encoding)
// into od->w_trits, once, in Prepare.
bool LoadWeights(TfLiteOpaqueContext* ctx, OpData* od,
                 const TfLiteOpaqueTensor* t, int64_t n);

// Resizes the output to `dims` [rank].
bool ResizeOutput(TfLiteOpaqueContext* ctx, const OpData* od,
                  TfLiteOpaqueTensor* out, const int* dims, int rank);

// Checks the node has `inputs` inputs and one output.
bool CheckCounts(TfLiteOpaqueContext* ctx, const OpData* od,
                 TfLiteOpaqueNode* node, int inputs);

// Checks the activation input `x`: type, rank (or minimum rank) and channel
// dimension against in_channels / its packed width.
bool CheckActivationInput(TfLiteOpaqueContext* ctx, const OpData* od,
                          const TfLiteOpaqueTensor* x, bool float_in,
                          int channels, int rank, int min_rank);

}  // namespace internal
}  // namespace tflite
}  // namespace sttn

#endif  // STTN_EXPORT_TFLITE_TENSOR_CHECKS_H_
