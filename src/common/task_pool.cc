#include "common/task_pool.h"

#include <algorithm>

namespace vecpuff {

TaskPool::TaskPool(size_t max_threads) : max_threads_(std::max<size_t>(max_threads, 1)) {}

TaskPool::~TaskPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

size_t TaskPool::threads_started() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_.size();
}

size_t TaskPool::threads_idle() const {
  std::lock_guard<std::mutex> lock(mu_);
  return idle_;
}

void TaskPool::Enqueue(std::function<void()> task) {
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
  // Tasks already queued are waiting for the idle workers too.
  if (idle_ < queue_.size() && workers_.size() < max_threads_) {
    workers_.emplace_back([this] { WorkerLoop(); });
    return;
  }
  lock.unlock();
  cv_.notify_one();
}

void TaskPool::WorkerLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) return;
      ++idle_;
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      continue;
    }
    std::function<void()> task = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    task();  // a packaged_task: its exceptions go to its future
    lock.lock();
  }
}

}  // namespace vecpuff
