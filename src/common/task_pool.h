// Worker threads kept for reuse: it saves a thread creation per task on hot paths (a
// query's freshness probe) where std::async would start a new thread every time. Workers are
// started on demand, up to a maximum; a task submitted while every worker is busy starts a
// new one (below the maximum) rather than wait behind a slow task such as a request to a
// remote store. At the maximum, tasks queue in submission order.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace vecpuff {

class TaskPool {
 public:
  // At most `max_threads` workers (at least one); none is started before the first task.
  explicit TaskPool(size_t max_threads);
  // Runs every task already submitted, then joins the workers.
  ~TaskPool();

  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Runs `fn` on a worker; the future yields its result (or its exception).
  template <typename F>
  auto Submit(F fn) -> std::future<std::invoke_result_t<F>> {
    using R = std::invoke_result_t<F>;
    auto task = std::make_shared<std::packaged_task<R()>>(std::move(fn));
    std::future<R> result = task->get_future();
    Enqueue([task] { (*task)(); });
    return result;
  }

  size_t threads_started() const;
  size_t threads_idle() const;

 private:
  void Enqueue(std::function<void()> task);
  void WorkerLoop();

  const size_t max_threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  size_t idle_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace vecpuff
