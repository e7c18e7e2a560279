// Per-op timing of the sttn ops for sttn_benchmark_model --per_op.
//
// How: the benchmark is linked with
//   -Wl,--wrap=TfLiteOperatorCreate -Wl,--wrap=TfLiteOperatorSetInvoke
// so the calls that export/tflite/sttn_ops.cc makes while building its
// operators land in op_timing.cc first. It records each operator's custom
// name and replaces its Invoke with a per-slot trampoline that calls the
// kernel's Invoke and, when enabled, adds the elapsed time to that op's total.
// This covers ONLY the sttn custom ops (their Invoke; Prepare is not timed):
// builtin ops (float conv, pooling, ...) run inside the runtime and are
// reported together as "other", the run time not spent in sttn ops. The
// runtime is untouched: nothing here depends on its internals.
#ifndef STTN_ANDROID_DEMO_NATIVE_BENCHMARK_OP_TIMING_H_
#define STTN_ANDROID_DEMO_NATIVE_BENCHMARK_OP_TIMING_H_

#include <cstdint>
#include <string>
#include <vector>

namespace sttn {
namespace android {

struct OpTime {
  std::string name;     // Custom op name, e.g. "SttnConv2D".
  int kernel_slot = 0;  // Distinguishes the reference/optimized operators.
  uint64_t calls = 0;   // Node invocations while timing was enabled.
  uint64_t nanos = 0;   // Total Invoke time while timing was enabled.
};

void EnableOpTiming(bool enabled);
void ResetOpTiming();
// Number of sttn operators whose Invoke was wrapped so far.
int WrappedOperatorCount();
// Operators with at least one timed call.
std::vector<OpTime> OpTimes();

}  // namespace android
}  // namespace sttn

#endif  // STTN_ANDROID_DEMO_NATIVE_BENCHMARK_OP_TIMING_H_
