// A small process-wide thread pool for the kernels (TFLite-free, pthreads).
//
// ParallelFor(threads, n, fn, ctx) runs fn(ctx, i, worker) for every item i
// in [0, n) on up to `threads` threads, the caller being one of them; items
// are handed out one at a time from an atomic counter, so a slow core (these
// machines are shared) does not hold up the others. `worker` is in
// [0, threads) and unique among the threads running at once: kernels index
// per-thread scratch with it. Nothing here throws or aborts: when a thread
// cannot be created, or another ParallelFor is running, the work runs on
// fewer threads (down to the caller alone).
#ifndef STTN_EXPORT_CORE_THREADPOOL_H_
#define STTN_EXPORT_CORE_THREADPOOL_H_

#include <cstdint>

namespace sttn {
namespace core {

constexpr int kMaxThreads = 64;

using ParallelFn = void (*)(void* ctx, int64_t item, int worker);

void ParallelFor(int threads, int64_t n, ParallelFn fn, void* ctx);

}  // namespace core
}  // namespace sttn

#endif  // STTN_EXPORT_CORE_THREADPOOL_H_
