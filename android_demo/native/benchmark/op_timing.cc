#include "android_demo/native/benchmark/op_timing.h"

#include <array>
#include <atomic>
#include <chrono>
#include <mutex>
#include <utility>

#include "export/tflite/c_api_subset.h"

namespace {

using InvokeFn = TfLiteStatus (*)(TfLiteOpaqueContext*, TfLiteOpaqueNode*);

// 7 ops x 2 kernel types today; room for the lead's additions.
constexpr int kMaxSlots = 64;

struct Slot {
  const TfLiteOperator* op = nullptr;
  std::string name;
  InvokeFn inner = nullptr;
  std::atomic<uint64_t> calls{0};
  std::atomic<uint64_t> nanos{0};
};

Slot g_slots[kMaxSlots];
int g_num_slots = 0;
std::mutex g_mu;
std::atomic<bool> g_enabled{false};

template <int kSlot>
TfLiteStatus Trampoline(TfLiteOpaqueContext* context, TfLiteOpaqueNode* node) {
  Slot& slot = g_slots[kSlot];
  if (!g_enabled.load(std::memory_order_relaxed)) {
    return slot.inner(context, node);
  }
  const auto start = std::chrono::steady_clock::now();
  const TfLiteStatus status = slot.inner(context, node);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  slot.calls.fetch_add(1, std::memory_order_relaxed);
  slot.nanos.fetch_add(
      static_cast<uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed)
              .count()),
      std::memory_order_relaxed);
  return status;
}

template <int... kSlots>
constexpr std::array<InvokeFn, sizeof...(kSlots)> MakeTrampolines(
    std::integer_sequence<int, kSlots...>) {
  return {{&Trampoline<kSlots>...}};
}

const auto kTrampolines =
    MakeTrampolines(std::make_integer_sequence<int, kMaxSlots>());
}  // namespace

extern "C" {

TfLiteOperator* __real_TfLiteOperatorCreate(TfLiteBuiltinOperator builtin_code,
                                            const char* custom_name,
                                            int version);
void __real_TfLiteOperatorSetInvoke(TfLiteOperator* registration,
                                    InvokeFn invoke);

TfLiteOperator* __wrap_TfLiteOperatorCreate(TfLiteBuiltinOperator builtin_code,
                                            const char* custom_name,
                                            int version) {
  TfLiteOperator* op =
      __real_TfLiteOperatorCreate(builtin_code, custom_name, version);
  std::lock_guard<std::mutex> lock(g_mu);
  if (op != nullptr && g_num_slots < kMaxSlots) {
    Slot& slot = g_slots[g_num_slots++];
    slot.op = op;
    slot.name = custom_name != nullptr ? custom_name : "(unnamed)";
  }
  return op;
}

void __wrap_TfLiteOperatorSetInvoke(TfLiteOperator* registration,
                                    InvokeFn invoke) {
  std::lock_guard<std::mutex> lock(g_mu);
  for (int i = 0; i < g_num_slots; ++i) {
    if (g_slots[i].op == registration && invoke != nullptr) {
      g_slots[i].inner = invoke;
      __real_TfLiteOperatorSetInvoke(registration, kTrampolines[i]);
      return;
    }
  }
  // No free slot (more than kMaxSlots operators): untimed, still correct.
  __real_TfLiteOperatorSetInvoke(registration, invoke);
}

}  // extern "C"

namespace sttn {
namespace android {

int WrappedOperatorCount() {
  std::lock_guard<std::mutex> lock(g_mu);
  int n = 0;
  for (int i = 0; i < g_num_slots; ++i) n += g_slots[i].inner != nullptr;
  return n;
}

void EnableOpTiming(bool enabled) { g_enabled.store(enabled); }

void ResetOpTiming() {
  std::lock_guard<std::mutex> lock(g_mu);
  for (int i = 0; i < g_num_slots; ++i) {
    g_slots[i].calls = 0;
    g_slots[i].nanos = 0;
  }
}

std::vector<OpTime> OpTimes() {
  std::lock_guard<std::mutex> lock(g_mu);
  std::vector<OpTime> out;
  for (int i = 0; i < g_num_slots; ++i) {
    if (g_slots[i].calls.load() == 0) continue;
    OpTime t;
    t.name = g_slots[i].name;
    t.kernel_slot = i;
    t.calls = g_slots[i].calls.load();
    t.nanos = g_slots[i].nanos.load();
    out.push_back(t);
  }
  return out;
}

}  // namespace android
}  // namespace sttn
