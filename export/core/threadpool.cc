#include "export/core/threadpool.h"

#include <pthread.h>
#include <sched.h>
#include <time.h>

#include <atomic>

namespace sttn {
namespace core {
namespace {

// One job at a time. Between jobs a worker waits in three stages:
//  1. it spins on pause instructions for kBusyNs (the next op of the same
//     model usually starts within a few microseconds);
//  2. it keeps polling, but gives its core away with sched_yield() between
//     polls, until kYieldNs have passed: gaps of tens to hundreds of
//     microseconds (a builtin op, a PAD, a small op run on one thread) then
//     cost no futex wake-up, whose latency on a virtual machine is itself
//     tens of microseconds, while a thread that needs the core (another
//     pool's worker, XNNPACK's) gets it;
//  3. it sleeps on a condition variable, so an idle model leaves the cores
//     alone.
// Waits are measured in time, not iterations: a pause costs from a few to
// ~140 cycles depending on the CPU.
constexpr int64_t kBusyNs = 20 * 1000;
constexpr int64_t kYieldNs = 2 * 1000 * 1000;

int64_t NowNs() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<int64_t>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

class Pool {
 public:
  static Pool& Get() {
    static Pool* pool = new Pool;  // never destroyed: workers may outlive main
    return *pool;
  }

  void Run(int threads, int64_t n, ParallelFn fn, void* ctx) {
    if (threads > kMaxThreads) threads = kMaxThreads;
    if (threads > n) threads = static_cast<int>(n);
    if (threads <= 1 || pthread_mutex_trylock(&run_mutex_) != 0) {
      for (int64_t i = 0; i < n; ++i) fn(ctx, i, 0);
      return;
    }
    const int helpers = EnsureWorkers(threads - 1);
    pthread_mutex_lock(&mutex_);
    fn_ = fn;
    ctx_ = ctx;
    n_ = n;
    next_.store(0, std::memory_order_relaxed);
    // One word holds the job's generation and how many helpers may take
    // part, so a worker reads both at once.
    const uint64_t gen = (job_.load(std::memory_order_relaxed) >> 8) + 1;
    open_.store(gen, std::memory_order_seq_cst);
    job_.store((gen << 8) | static_cast<uint64_t>(helpers),
               std::memory_order_release);
    pthread_cond_broadcast(&wake_);
    pthread_mutex_unlock(&mutex_);
    Work(0);
    // Every item is handed out. Close the job: a helper that was not awake
    // in time does not join it (the caller never waits for a thread the OS
    // has not scheduled yet); wait only for helpers inside an item.
    open_.store(0, std::memory_order_seq_cst);
    for (int spin = 0; running_.load(std::memory_order_seq_cst) != 0; ++spin) {
      if (spin > 4000) {
        pthread_mutex_lock(&mutex_);
        while (running_.load(std::memory_order_seq_cst) != 0) {
          pthread_cond_wait(&done_, &mutex_);
        }
        pthread_mutex_unlock(&mutex_);
        break;
      }
      Pause();
    }
    pthread_mutex_unlock(&run_mutex_);
  }

 private:
  Pool() {
    pthread_mutex_init(&mutex_, nullptr);
    pthread_mutex_init(&run_mutex_, nullptr);
    pthread_cond_init(&wake_, nullptr);
    pthread_cond_init(&done_, nullptr);
  }

  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  struct WorkerArg {
    Pool* pool;
    int index;
  };

  // Starts workers until `wanted` exist (or creation fails); returns how
  // many of them take part in the next job.
  int EnsureWorkers(int wanted) {
    while (num_workers_ < wanted) {
      WorkerArg* arg = new WorkerArg{this, num_workers_ + 1};
      pthread_t t;
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
      const int rc = pthread_create(&t, &attr, &Pool::Main, arg);
      pthread_attr_destroy(&attr);
      if (rc != 0) {
        delete arg;
        break;
      }
      ++num_workers_;
    }
    return wanted < num_workers_ ? wanted : num_workers_;
  }

  static void* Main(void* p) {
    WorkerArg* arg = static_cast<WorkerArg*>(p);
    Pool* pool = arg->pool;
    const int index = arg->index;
    delete arg;
    pool->Loop(index);
    return nullptr;
  }

  void Loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      uint64_t job = job_.load(std::memory_order_acquire);
      if ((job >> 8) == seen) job = WaitForJob(seen);
      seen = job >> 8;
      if (index > static_cast<int>(job & 0xff)) continue;  // not in this job
      // Join only while the job is open (seq_cst pairs with Run's close).
      running_.fetch_add(1, std::memory_order_seq_cst);
      if (open_.load(std::memory_order_seq_cst) == seen) Work(index);
      if (running_.fetch_sub(1, std::memory_order_seq_cst) == 1) {
        pthread_mutex_lock(&mutex_);
        pthread_cond_signal(&done_);
        pthread_mutex_unlock(&mutex_);
      }
    }
  }

  // Returns the first job word whose generation is not `seen` (see the
  // three stages at the top of this file).
  uint64_t WaitForJob(uint64_t seen) {
    const int64_t start = NowNs();
    uint64_t job;
    int64_t waited = 0;
    for (int i = 0;; ++i) {
      job = job_.load(std::memory_order_acquire);
      if ((job >> 8) != seen) return job;
      // The clock is read every 64 polls (a vDSO call, tens of ns).
      if ((i & 63) == 63) waited = NowNs() - start;
      if (waited < kBusyNs) {
        Pause();
      } else if (waited < kYieldNs) {
        sched_yield();
        waited = NowNs() - start;
      } else {
        break;
      }
    }
    pthread_mutex_lock(&mutex_);
    while (((job = job_.load(std::memory_order_acquire)) >> 8) == seen) {
      pthread_cond_wait(&wake_, &mutex_);
    }
    pthread_mutex_unlock(&mutex_);
    return job;
  }

  void Work(int worker) {
    for (;;) {
      const int64_t i = next_.fetch_add(1, std::memory_order_relaxed);
      if (i >= n_) return;
      fn_(ctx_, i, worker);
    }
  }

  pthread_mutex_t mutex_;
  pthread_mutex_t run_mutex_;
  pthread_cond_t wake_;
  pthread_cond_t done_;
  int num_workers_ = 0;
  // Job state, written under mutex_ before generation_ is bumped.
  ParallelFn fn_ = nullptr;
  void* ctx_ = nullptr;
  int64_t n_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<int> running_{0};    // helpers inside the current job
  std::atomic<uint64_t> open_{0};  // generation accepting helpers, or 0
  std::atomic<uint64_t> job_{0};   // (generation << 8) | helpers
};

}  // namespace

void ParallelFor(int threads, int64_t n, ParallelFn fn, void* ctx) {
  if (n <= 0) return;
  Pool::Get().Run(threads, n, fn, ctx);
}

}  // namespace core
}  // namespace sttn
