#include "common/task_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

namespace vecpuff {
namespace {

TEST(TaskPoolTest, RunsTasksAndReturnsResults) {
  TaskPool pool(2);
  std::vector<std::future<int>> results;
  for (int i = 0; i < 50; ++i) results.push_back(pool.Submit([i] { return i * i; }));
  for (int i = 0; i < 50; ++i) EXPECT_EQ(results[i].get(), i * i);
  EXPECT_LE(pool.threads_started(), 2u);
  EXPECT_GE(pool.threads_started(), 1u);
}

TEST(TaskPoolTest, StartsNoThreadBeforeTheFirstTask) {
  TaskPool pool(4);
  EXPECT_EQ(pool.threads_started(), 0u);
}

TEST(TaskPoolTest, ReusesAnIdleWorker) {
  TaskPool pool(8);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(pool.Submit([i] { return i; }).get(), i);
    // The worker is back waiting before the next task is submitted.
    while (pool.threads_idle() != pool.threads_started()) std::this_thread::yield();
  }
  // Each task found the worker idle: one worker did them all.
  EXPECT_EQ(pool.threads_started(), 1u);
}

TEST(TaskPoolTest, ABlockedTaskDoesNotDelayTheNext) {
  TaskPool pool(4);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  auto blocked = pool.Submit([gate] {
    gate.wait();
    return 1;
  });
  // With the first worker blocked, a second task still runs (on a new worker).
  auto next = pool.Submit([] { return 2; });
  ASSERT_EQ(next.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(next.get(), 2);
  EXPECT_EQ(pool.threads_started(), 2u);
  release.set_value();
  EXPECT_EQ(blocked.get(), 1);
}

TEST(TaskPoolTest, QueuesAtTheMaximum) {
  TaskPool pool(1);
  std::promise<void> release;
  std::shared_future<void> gate = release.get_future().share();
  std::atomic<int> ran{0};
  auto first = pool.Submit([gate, &ran] {
    gate.wait();
    return ++ran;
  });
  auto second = pool.Submit([&ran] { return ++ran; });
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(50)), std::future_status::timeout);
  release.set_value();
  EXPECT_EQ(first.get(), 1);
  EXPECT_EQ(second.get(), 2);
  EXPECT_EQ(pool.threads_started(), 1u);
}

TEST(TaskPoolTest, ExceptionsReachTheFuture) {
  TaskPool pool(1);
  auto f = pool.Submit([]() -> int { throw std::runtime_error("boom"); });
  EXPECT_THROW(f.get(), std::runtime_error);
  EXPECT_EQ(pool.Submit([] { return 7; }).get(), 7);  // the worker survived
}

TEST(TaskPoolTest, DestructorRunsQueuedTasks) {
  std::atomic<int> ran{0};
  {
    TaskPool pool(1);
    for (int i = 0; i < 10; ++i) (void)pool.Submit([&ran] { ++ran; });
  }
  EXPECT_EQ(ran.load(), 10);
}

}  // namespace
}  // namespace vecpuff
