// Registration of the sttn custom ops (docs/op-format.md) as TFLite opaque
// C API operators (TfLiteOperator). Each op is available in several kernel
// types: kReference (plain loops, the oracle), kOptimized (the fastest path
// this CPU supports) and one type per ISA path (kPortable, kPopcnt, kAvx2,
// kAvx512, kNeon), so that one process can test every path the CPU runs.
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

enum KernelType {
  kReference = 0,
  kOptimized = 1,  // the best of the ISA paths below that the CPU supports
  kPortable = 2,
  kPopcnt = 3,
  kAvx2 = 4,
  kAvx512 = 5,
  kNeon = 6,
};
constexpr int kNumKernelTypes = 7;

// Where the optimized kernels read their thread count: a query of the
// interpreter's context (the host layer installs one that reads the
// runtime's recommended_num_threads), else the process-wide count of
// sttn_set_num_threads (the route for the Android C API, whose opaque
// context does not expose the interpreter's thread count).
using NumThreadsQuery = int (*)(const TfLiteOpaqueContext* context);
void SetNumThreadsQuery(NumThreadsQuery query);

// The newest op format version these kernels implement, and the oldest they
// still accept: a model's `version` option must be in
// [kOldestOpFormatVersion, kOpFormatVersion] (docs/op-format.md,
// "Versioning"). export/op_format.py holds the same two numbers. Version 2
// adds the optional `output` = "PACKED" and `weight_encoding` = "trit2" |
// "base3" of the conv / fully connected / depthwise ops.
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
// operator of op `index` for `kernel_type` (a KernelType: 0 reference,
// 1 optimized, 2-6 one ISA path each); nullptr for an index or kernel type
// out of range or not supported by this CPU and build.
STTN_API int sttn_tflite_num_ops(void);
STTN_API const char* sttn_tflite_op_name(int index);
STTN_API const TfLiteOperator* sttn_tflite_operator(int index, int kernel_type);
STTN_API int sttn_op_format_version(void);
// The optimized kernel: the ISA path kernel type kOptimized runs on this
// CPU, as a kernel type name ("avx512", "avx2", "neon", "popcnt" or
// "portable"); Python's optimized_kernel().
STTN_API const char* sttn_optimized_kernel(void);
// Deprecated: the old name of sttn_optimized_kernel (from when every
// optimized path was a popcount GEMM), kept exported for one release.
STTN_API const char* sttn_optimized_popcount_path(void);
// 1 when `kernel_type` can run on this CPU (reference and optimized always).
STTN_API int sttn_kernel_type_supported(int kernel_type);
// "reference", "optimized", "portable", "popcnt", "avx2", "avx512", "neon";
// nullptr out of range.
STTN_API const char* sttn_kernel_type_name(int kernel_type);
// Threads of the optimized kernels when no context query is installed
// (default 1; values < 1 mean 1).
STTN_API void sttn_set_num_threads(int num_threads);
// Per-op timing: while enabled, every Invoke adds its wall time to its op's
// counters. sttn_profile_read(op_index, &invocations, &nanoseconds) returns
// 0 for an index out of range.
STTN_API void sttn_profile_enable(int enable);
STTN_API void sttn_profile_reset(void);
STTN_API int sttn_profile_read(int op_index, long long* invocations,
                               long long* nanoseconds);
}

#endif  // STTN_EXPORT_TFLITE_STTN_OPS_H_
