// Registration of the sttn custom ops (docs/op-format.md) as TFLite opaque
// C API operators (TfLiteOperator). Each op is available in two variants:
// kReference (plain loops, the oracle) and kOptimized (bit-packed popcount).
//
// Android / any runtime exporting the C API:
//   for (int i = 0; i < sttn_tflite_num_ops(); ++i)
//     TfLiteInterpreterOptionsAddOperator(
//         options, sttn_tflite_operator(i, sttn::tflite::kOptimized));
// Python on the host: export/host/ adapts the same operators to the runtime's
// classic registrations (export/runtime.py does this).
#ifndef STTN_EXPORT_TFLITE_STTN_OPS_H_
#define STTN_EXPORT_TFLITE_STTN_OPS_H_

#include "export/tflite/c_api_subset.h"

#if defined(_WIN32)
#define STTN_API __declspec(dllexport)
#else
#define STTN_API __attribute__((visibility("default")))
#endif

namespace sttn {
namespace tflite {

enum KernelType { kReference = 0, kOptimized = 1 };

// The newest op format version these kernels implement, and the oldest they
// still accept: a model's `version` option must be in
// [kOldestOpFormatVersion, kOpFormatVersion] (docs/op-format.md,
// "Versioning"). export/op_format.py holds the same two numbers.
constexpr int kOpFormatVersion = 2;
constexpr int kOldestOpFormatVersion = 1;

const TfLiteOperator* Register_TERNARIZE(KernelType kernel_type);
const TfLiteOperator* Register_CONV2D(KernelType kernel_type);
const TfLiteOperator* Register_CONV2D_FLOAT_IN(KernelType kernel_type);
const TfLiteOperator* Register_FULLY_CONNECTED(KernelType kernel_type);
const TfLiteOperator* Register_FULLY_CONNECTED_FLOAT_IN(KernelType kernel_type);
const TfLiteOperator* Register_DEPTHWISE_CONV2D(KernelType kernel_type);
const TfLiteOperator* Register_DEPTHWISE_CONV2D_FLOAT_IN(
    KernelType kernel_type);

}  // namespace tflite
}  // namespace sttn

extern "C" {
// Number of custom ops, their custom names ("SttnConv2D", ...), and the
// operator of op `index` for `kernel_type` (0 reference, 1 optimized);
// nullptr for an index or kernel type out of range.
STTN_API int sttn_tflite_num_ops(void);
STTN_API const char* sttn_tflite_op_name(int index);
STTN_API const TfLiteOperator* sttn_tflite_operator(int index,
                                                    int kernel_type);
STTN_API int sttn_op_format_version(void);
// "popcnt" or "portable": the popcount path of the optimized kernels here.
STTN_API const char* sttn_optimized_popcount_path(void);
}

#endif  // STTN_EXPORT_TFLITE_STTN_OPS_H_
