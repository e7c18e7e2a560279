// Test of the per-op timing of sttn_benchmark_model (native/benchmark/
// op_timing.cc) on the host: linked with the same --wrap flags, it creates an
// operator the way export/tflite/sttn_ops.cc does, then calls the Invoke the
// operator ended up with (read through the host's TfLiteOperator struct,
// export/host/operator.h, as the test double's runtime would) and checks that
// the kernel ran and its calls and time were recorded only while enabled.
// Exit status 0 on success.
#include "android_demo/native/benchmark/op_timing.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include "export/host/operator.h"

namespace {

int g_kernel_calls = 0;

TfLiteStatus KernelInvoke(TfLiteOpaqueContext*, TfLiteOpaqueNode*) {
  ++g_kernel_calls;
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  return kTfLiteOk;
}

int Fail(const char* what) {
  std::fprintf(stderr, "FAILED: %s\n", what);
  return 1;
}

}  // namespace

int main() {
  TfLiteOperator* op =
      TfLiteOperatorCreate(kTfLiteBuiltinCustom, "SttnFake", 1);
  TfLiteOperatorSetInvoke(op, KernelInvoke);
  if (op->invoke == nullptr || op->invoke == KernelInvoke) {
    return Fail("Invoke was not wrapped");
  }
  if (sttn::android::WrappedOperatorCount() != 1) {
    return Fail("one operator should be wrapped");
  }
  op->invoke(nullptr, nullptr);  // Timing disabled: runs, not recorded.
  if (g_kernel_calls != 1 || !sttn::android::OpTimes().empty()) {
    return Fail("disabled timing recorded a call or skipped the kernel");
  }
  sttn::android::EnableOpTiming(true);
  op->invoke(nullptr, nullptr);
  op->invoke(nullptr, nullptr);
  sttn::android::EnableOpTiming(false);
  const std::vector<sttn::android::OpTime> times = sttn::android::OpTimes();
  if (g_kernel_calls != 3) return Fail("the kernel did not run each time");
  if (times.size() != 1 || times[0].name != "SttnFake" || times[0].calls != 2) {
    return Fail("expected 2 timed calls of SttnFake");
  }
  if (times[0].nanos < 4000000)
    return Fail("recorded less than the 2 x 2 ms slept");
  sttn::android::ResetOpTiming();
  if (!sttn::android::OpTimes().empty()) return Fail("reset kept times");
  std::printf("OK op timing: %llu calls, %.3f ms\n",
              static_cast<unsigned long long>(times[0].calls),
              static_cast<double>(times[0].nanos) / 1e6);
  return 0;
}
