// GoogleTest of the kernels' thread pool (export/core/threadpool.cc), linked
// into core_test (sanitizers, aarch64 under qemu, Bazel) and, alone with the
// pool, built with -fsanitize=thread by tests/test_core_cc.py.
#include "export/core/threadpool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace {

// The thread pool: every item of a job runs exactly once, on a worker index
// below the thread count that no two threads hold at once. Jobs follow each
// other after gaps that end in each of a waiting worker's stages (spinning,
// yielding its core, asleep), and two callers run jobs at the same time (one
// of them then runs its items alone).
struct PoolJob {
  explicit PoolJob(int64_t n, int threads) : hits(n), threads(threads) {}
  std::vector<std::atomic<int>> hits;
  std::atomic<int> holders[sttn::core::kMaxThreads] = {};
  std::atomic<bool> bad{false};
  int threads;
};

void PoolItem(void* ctx, int64_t item, int worker) {
  PoolJob& j = *static_cast<PoolJob*>(ctx);
  if (worker < 0 || worker >= j.threads) {
    j.bad = true;
    return;
  }
  if (j.holders[worker].fetch_add(1) != 0) j.bad = true;
  j.hits[item].fetch_add(1);
  for (volatile int i = 0; i < 200; i = i + 1) {
  }
  j.holders[worker].fetch_sub(1);
}

void RunPoolJob(int threads, int64_t n) {
  PoolJob j(n, threads);
  sttn::core::ParallelFor(threads, n, PoolItem, &j);
  EXPECT_FALSE(j.bad.load()) << "threads " << threads << ", items " << n;
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(j.hits[i].load(), 1) << "item " << i << " of " << n;
  }
}

TEST(ThreadPool, RunsEveryItemOnceAfterEveryKindOfGap) {
  for (const int gap_us : {0, 200, 5000}) {
    for (const int threads : {1, 2, 3, 5}) {
      for (const int64_t n : {1, 2, 7, 64, 1000}) {
        RunPoolJob(threads, n);
        std::this_thread::sleep_for(std::chrono::microseconds(gap_us));
      }
    }
  }
}

TEST(ThreadPool, TwoCallersAtOnce) {
  std::thread other([] {
    for (int k = 0; k < 200; ++k) RunPoolJob(2, 37);
  });
  for (int k = 0; k < 200; ++k) RunPoolJob(3, 41);
  other.join();
}

}  // namespace
