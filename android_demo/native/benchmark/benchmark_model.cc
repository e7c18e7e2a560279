// sttn_benchmark_model: times a .tflite model with the sttn custom ops on the
// device, through the TFLite C API (like Larq Compute Engine's
// lce_benchmark_model). Push it with adb and run it from `adb shell`; see
// android_demo/README.md.
//
//   sttn_benchmark_model --graph=model.tflite [--num_threads=1]
//       [--num_runs=50] [--warmup_runs=5] [--kernel=optimized|reference]
//       [--per_op]
//
// Inputs are filled with fixed pseudo-random values (float inputs in [0, 1)).
// Prints the init time (model + interpreter + AllocateTensors), the median and
// mean latency of Invoke, and with --per_op the time of each sttn op
// (op_timing.h says what that breakdown covers). Exit status 0 on success,
// 1 on a failure (message on stderr), 2 on bad arguments.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "android_demo/native/benchmark/op_timing.h"
#include "android_demo/native/common/session.h"
#include "export/tflite/sttn_ops.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Flags {
  std::string graph;
  int num_threads = 1;
  int num_runs = 50;
  int warmup_runs = 5;
  int kernel_type = 1;
  bool per_op = false;
};

const char kUsage[] =
    "usage: sttn_benchmark_model --graph=PATH [--num_threads=N (1)]\n"
    "         [--num_runs=N (50)] [--warmup_runs=N (5)]\n"
    "         [--kernel=optimized|reference (optimized)] [--per_op]\n";

// Parses "--name=value" into a positive (or >= min) int.
bool ParseInt(const std::string& arg, const std::string& name, int min,
              int* out, std::string* error) {
  const std::string value = arg.substr(name.size() + 3);
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (value.empty() || *end != '\0' || v < min || v > 1000000) {
    *error = "--" + name + " must be an integer >= " + std::to_string(min) +
             "; received '" + value + "'";
    return false;
  }
  *out = static_cast<int>(v);
  return true;
}

bool ParseFlags(int argc, char** argv, Flags* f, std::string* error) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto is = [&](const char* name) {
      return a.rfind(std::string("--") + name + "=", 0) == 0;
    };
    if (is("graph")) {
      f->graph = a.substr(8);
    } else if (is("num_threads")) {
      if (a == "--num_threads=-1") {
        f->num_threads = -1;
      } else if (!ParseInt(a, "num_threads", 1, &f->num_threads, error)) {
        return false;
      }
    } else if (is("num_runs")) {
      if (!ParseInt(a, "num_runs", 1, &f->num_runs, error)) return false;
    } else if (is("warmup_runs")) {
      if (!ParseInt(a, "warmup_runs", 0, &f->warmup_runs, error)) return false;
    } else if (is("kernel")) {
      const std::string k = a.substr(9);
      if (k == "optimized") {
        f->kernel_type = sttn::tflite::kOptimized;
      } else if (k == "reference") {
        f->kernel_type = sttn::tflite::kReference;
      } else {
        *error =
            "--kernel must be 'optimized' or 'reference'; received '" + k + "'";
        return false;
      }
    } else if (a == "--per_op" || a == "--per_op=true") {
      f->per_op = true;
    } else if (a == "--per_op=false") {
      f->per_op = false;
    } else if (a == "--help" || a == "-h") {
      *error = "";
      return false;
    } else {
      *error = "unknown argument '" + a + "'";
      return false;
    }
  }
  if (f->graph.empty()) {
    *error = "--graph is required";
    return false;
  }
  return true;
}

uint8_t NextByte(void* state) {
  // xorshift32: fixed inputs from run to run.
  uint32_t* x = static_cast<uint32_t*>(state);
  *x ^= *x << 13;
  *x ^= *x >> 17;
  *x ^= *x << 5;
  return static_cast<uint8_t>(*x >> 24);
}

double Ms(Clock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  std::string error;
  if (!ParseFlags(argc, argv, &flags, &error)) {
    if (!error.empty()) std::fprintf(stderr, "error: %s\n", error.c_str());
    std::fputs(kUsage, stderr);
    return error.empty() ? 0 : 2;
  }
  std::ifstream file(flags.graph, std::ios::binary);
  if (!file) {
    std::fprintf(stderr, "error: cannot open --graph '%s'\n",
                 flags.graph.c_str());
    return 1;
  }
  const std::vector<char> model((std::istreambuf_iterator<char>(file)),
                                std::istreambuf_iterator<char>());

  std::printf("graph: %s (%zu bytes)\n", flags.graph.c_str(), model.size());
  std::printf(
      "num_threads: %d, kernel: %s, sttn op format version %d\n",
      flags.num_threads,
      flags.kernel_type == sttn::tflite::kOptimized ? "optimized" : "reference",
      sttn_op_format_version());

  sttn::android::SessionOptions options;
  options.num_threads = flags.num_threads;
  options.kernel_type = flags.kernel_type;
  const Clock::time_point init_start = Clock::now();
  std::unique_ptr<sttn::android::Session> session =
      sttn::android::Session::Create(model.data(), model.size(), options,
                                     &error);
  const Clock::duration init = Clock::now() - init_start;
  if (session == nullptr) {
    std::fprintf(stderr, "error: %s\n", error.c_str());
    return 1;
  }
  std::printf("init: %.3f ms (model, interpreter, AllocateTensors)\n",
              Ms(init));
  for (int i = 0; i < session->num_inputs(); ++i) {
    uint32_t state = 0x9e3779b9u + static_cast<uint32_t>(i);
    if (!session->FillInputBytes(i, &NextByte, &state, &error)) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      return 1;
    }
    std::printf("input %d '%s': %s\n", i, session->InputName(i).c_str(),
                sttn::android::ShapeString(session->InputShape(i)).c_str());
  }

  for (int i = 0; i < session->num_outputs(); ++i) {
    std::printf("output %d: %s\n", i,
                sttn::android::ShapeString(session->OutputShape(i)).c_str());
  }

  for (int i = 0; i < flags.warmup_runs; ++i) {
    if (!session->Invoke(&error)) {
      std::fprintf(stderr, "error: warmup run %d: %s\n", i, error.c_str());
      return 1;
    }
  }
  sttn::android::ResetOpTiming();
  sttn::android::EnableOpTiming(flags.per_op);
  std::vector<double> times;
  times.reserve(static_cast<size_t>(flags.num_runs));
  for (int i = 0; i < flags.num_runs; ++i) {
    const Clock::time_point start = Clock::now();
    if (!session->Invoke(&error)) {
      std::fprintf(stderr, "error: run %d: %s\n", i, error.c_str());
      return 1;
    }
    times.push_back(Ms(Clock::now() - start));
  }
  sttn::android::EnableOpTiming(false);

  double total = 0.0;
  for (double t : times) total += t;
  const double mean = total / static_cast<double>(times.size());
  std::vector<double> sorted = times;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  const double median =
      n % 2 == 1 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  std::printf("runs: %d (after %d warmup)\n", flags.num_runs,
              flags.warmup_runs);
  std::printf(
      "latency: median %.3f ms, mean %.3f ms, min %.3f ms, max %.3f "
      "ms\n",
      median, mean, sorted.front(), sorted.back());

  if (flags.per_op) {
    std::printf(
        "per-op (sttn custom ops only, %d operators wrapped; Invoke "
        "time per run):\n",
        sttn::android::WrappedOperatorCount());
    double sttn_ms = 0.0;
    for (const sttn::android::OpTime& t : sttn::android::OpTimes()) {
      const double ms =
          static_cast<double>(t.nanos) / 1e6 / static_cast<double>(n);
      sttn_ms += ms;
      std::printf("  %-28s %8.3f ms  %5.1f%%  (%llu nodes per run)\n",
                  t.name.c_str(), ms, 100.0 * ms / mean,
                  static_cast<unsigned long long>(t.calls / n));
    }
    std::printf("  %-28s %8.3f ms  %5.1f%%  (builtin ops and runtime)\n",
                "other", std::max(0.0, mean - sttn_ms),
                100.0 * std::max(0.0, mean - sttn_ms) / mean);
  }
  return 0;
}
