// A persistent thread pool. Workers spin briefly after each job (waking a sleeping thread costs
// 3-14 us, a spinning one ~1 us) and then sleep on a condition variable, so an idle process
// burns no CPU. XFMR_THREADS sets the size (default: the cores available to the process).
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#include "common.h"

namespace xfmr {
namespace {

struct Pool {
  std::vector<std::thread> workers;
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<uint64_t> generation{0};
  std::atomic<int64_t> next{0};
  std::atomic<int> busy{0};
  int64_t n_tasks = 0;
  const std::function<void(int64_t, int)>* fn = nullptr;
  bool stop = false;
  int size = 1;  // threads including the caller

  void run_tasks(int thread) {
    for (;;) {
      int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= n_tasks) break;
      (*fn)(t, thread);
    }
  }

  // `seen` starts at the generation current when the worker is created: a worker that started at 0
  // after set_num_threads would take the last job's generation for a new one, run nothing and
  // decrement `busy` for a job it never joined, leaving the caller spinning on a busy of -1.
  void worker(int id, uint64_t seen) {
    for (;;) {
      // Spin for ~100 us waiting for the next job, then sleep.
      auto start = std::chrono::steady_clock::now();
      int spins = 0;
      while (generation.load(std::memory_order_acquire) == seen && !stop) {
        if (++spins % 256 == 0 &&
            std::chrono::steady_clock::now() - start > std::chrono::microseconds(100)) {
          std::unique_lock<std::mutex> lk(mu);
          cv.wait(lk, [&] { return generation.load(std::memory_order_acquire) != seen || stop; });
          break;
        }
      }
      if (stop) return;
      seen = generation.load(std::memory_order_acquire);
      run_tasks(id);
      busy.fetch_sub(1, std::memory_order_acq_rel);
    }
  }

  void start(int n) {
    size = std::max(1, n);
    const uint64_t g = generation.load(std::memory_order_acquire);
    for (int i = 1; i < size; i++) workers.emplace_back([this, i, g] { worker(i, g); });
  }

  void shutdown() {
    {
      std::lock_guard<std::mutex> lk(mu);
      stop = true;
    }
    cv.notify_all();
    for (auto& w : workers) w.join();
    workers.clear();
    stop = false;
  }

  ~Pool() { shutdown(); }
};

Pool& pool() {
  static Pool* p = [] {
    auto* q = new Pool();
    int n = 0;
    if (const char* s = std::getenv("XFMR_THREADS")) n = std::atoi(s);
    if (n <= 0) {
      cpu_set_t set;
      if (sched_getaffinity(0, sizeof set, &set) == 0) n = CPU_COUNT(&set);
      if (n <= 0) n = static_cast<int>(std::thread::hardware_concurrency());
    }
    q->start(n);
    return q;
  }();
  return *p;
}

thread_local bool in_pool_task = false;

}  // namespace

int num_threads() { return pool().size; }

void set_num_threads(int n) {
  Pool& p = pool();
  if (n <= 0 || n == p.size) return;
  p.shutdown();
  p.start(n);
}

void parallel_tasks(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn) {
  if (n_tasks <= 0) return;
  Pool& p = pool();
  if (n_tasks == 1 || p.size == 1 || in_pool_task) {
    for (int64_t t = 0; t < n_tasks; t++) fn(t, 0);
    return;
  }
  in_pool_task = true;
  p.fn = &fn;
  p.n_tasks = n_tasks;
  p.next.store(0, std::memory_order_relaxed);
  p.busy.store(p.size - 1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(p.mu);
    p.generation.fetch_add(1, std::memory_order_acq_rel);
  }
  p.cv.notify_all();
  p.run_tasks(0);
  while (p.busy.load(std::memory_order_acquire) != 0) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  in_pool_task = false;
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t threads = num_threads();
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, threads * 4);
  if (chunks <= 1) {
    fn(0, n);
    return;
  }
  int64_t per = (n + chunks - 1) / chunks;
  parallel_tasks(chunks, [&](int64_t c, int) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace xfmr
