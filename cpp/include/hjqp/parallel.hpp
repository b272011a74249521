// The kernel's one thread pool: independent items on worker threads, with a
// stop flag that the calling thread raises when asked to (Ctrl-C).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "hjqp/grid.hpp"

namespace hjqp {

// body(i, worker, stop) for every i in [0, n), on `threads` worker threads
// (worker in [0, threads)) that claim the items in blocks of `block`, in
// order. Items must not depend on each other: results are then the same
// whatever the thread count. No item starts once `stop` is set, and a body
// that runs long should return early then. The calling thread polls `interrupted` every 20 ms;
// when it returns true the stop flag is raised, no further block is
// started, and parallel_for returns true.
//
// Every thread started is joined before parallel_for returns or throws: a
// std::thread destroyed while joinable ends the process (std::terminate).
// When a thread cannot be created (std::system_error: the process's thread
// or memory limit), the workers already running are stopped and joined and
// std::runtime_error says how many threads could be started. An exception
// thrown by the body stops the other workers and is rethrown here.
// (The body is a std::function: one call per item is negligible next to
// an item's work, and the compiler then optimises the body on its own
// rather than inlined into the worker loop.)
inline bool parallel_for(Index n, int threads, Index block,
                         const std::function<void(Index, int, const std::atomic<bool>&)>& body,
                         const std::function<bool()>& interrupted = {}) {
  if (threads < 1) throw std::invalid_argument("threads must be >= 1, got " + std::to_string(threads));
  if (block < 1) throw std::invalid_argument("block must be >= 1");
  std::atomic<Index> next{0};
  std::atomic<bool> stop{false};
  std::atomic<int> running{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto work = [&](int worker) {
    try {
      while (!stop.load()) {
        const Index first = next.fetch_add(block);
        if (first >= n) break;
        const Index last = std::min(n, first + block);
        // The flag is read before every item, not only every block: a
        // block of long items (trajectories of a few hundred thousand steps)
        // would otherwise keep running for seconds after a Ctrl-C.
        for (Index i = first; i < last && !stop.load(std::memory_order_relaxed); ++i) body(i, worker, stop);
      }
    } catch (...) {
      const std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      stop.store(true);
    }
    running.fetch_sub(1);
  };
  const Index blocks = (n + block - 1) / block;
  const int workers = int(std::min<Index>(threads, std::max<Index>(blocks, 1)));
  // Joins whatever was started, however this scope is left.
  struct Joiner {
    std::vector<std::thread> pool;
    std::atomic<bool>& stop;
    ~Joiner() {
      stop.store(true);
      for (std::thread& t : pool)
        if (t.joinable()) t.join();
    }
  } joiner{{}, stop};
  joiner.pool.reserve(std::size_t(workers));
  for (int t = 0; t < workers; ++t) {
    running.fetch_add(1);
    try {
      joiner.pool.emplace_back(work, t);
    } catch (const std::system_error& e) {
      running.fetch_sub(1);
      throw std::runtime_error("could not start worker thread " + std::to_string(t + 1) + " of " +
                               std::to_string(workers) + " (" + e.what() +
                               "): the process's thread or memory limit is reached; pass fewer threads");
    }
  }
  bool stopped = false;
  for (int tick = 1; running.load() > 0; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (tick % 10 == 0 && interrupted && !stop.load() && interrupted()) {
      stopped = true;
      stop.store(true);
    }
  }
  for (std::thread& t : joiner.pool) t.join();
  if (failure) std::rethrow_exception(failure);
  return stopped;
}

}  // namespace hjqp
