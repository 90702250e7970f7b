// The counting, latency-injecting and fault-injecting decorators.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "storage/counting_store.h"
#include "storage/fault_injection_store.h"
#include "storage/latency_store.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

// Holds every Get until `n` Gets are in progress at once.
class GateStore : public ObjectStoreWrapper {
 public:
  GateStore(ObjectStore* target, int n) : ObjectStoreWrapper(target), latch_(n) {}
  Result<GetResult> Get(std::string_view key, std::optional<ByteRange> range) override {
    latch_.arrive_and_wait();
    return target()->Get(key, range);
  }

 private:
  std::latch latch_;
};

TEST(CountingStoreTest, CountsRequestsAndBytes) {
  auto memory = NewMemoryStore();
  CountingStore store(memory.get());
  ASSERT_TRUE(store.Put("a", "12345").ok());
  ASSERT_TRUE(store.Put("b", "xy", PutOptions{PutMode::kCreateOnly, ""}).ok());
  EXPECT_TRUE(
      store.Put("b", "xyz", PutOptions{PutMode::kCreateOnly, ""}).status().IsPreconditionFailed());
  ASSERT_TRUE(store.Get("a").ok());
  ASSERT_TRUE(store.Get("a", ByteRange{1, 2}).ok());
  EXPECT_TRUE(store.Get("missing").status().IsNotFound());
  ASSERT_TRUE(store.Head("b").ok());
  ASSERT_TRUE(store.List(ListOptions{}).ok());
  ASSERT_TRUE(store.Delete("a").ok());

  const CountingStore::Counts c = store.counts();
  EXPECT_EQ(c.puts, 3u) << "failed requests count too";
  EXPECT_EQ(c.gets, 3u);
  EXPECT_EQ(c.heads, 1u);
  EXPECT_EQ(c.lists, 1u);
  EXPECT_EQ(c.deletes, 1u);
  EXPECT_EQ(c.requests(), 9u);
  EXPECT_EQ(c.bytes_written, 10u);  // 5 + 2 + 3: every payload sent
  EXPECT_EQ(c.bytes_read, 7u);      // 5 + 2: bytes returned
  EXPECT_EQ(c.in_flight, 0);
  EXPECT_EQ(c.peak_in_flight, 1);

  store.Reset();
  const CountingStore::Counts z = store.counts();
  EXPECT_EQ(z.requests(), 0u);
  EXPECT_EQ(z.bytes_read, 0u);
  EXPECT_EQ(z.bytes_written, 0u);
  EXPECT_EQ(z.peak_in_flight, 0);
  EXPECT_NE(store.Describe().find("memory"), std::string::npos);
}

TEST(CountingStoreTest, TracksPeakInFlight) {
  constexpr int kThreads = 4;
  auto memory = NewMemoryStore();
  ASSERT_TRUE(memory->Put("k", "v").ok());
  GateStore gate(memory.get(), kThreads);
  CountingStore store(&gate);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] { EXPECT_TRUE(store.Get("k").ok()); });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(store.counts().peak_in_flight, kThreads);
  EXPECT_EQ(store.counts().in_flight, 0);
  store.Reset();
  EXPECT_EQ(store.counts().peak_in_flight, 0);
}

TEST(LatencyInjectingStoreTest, DelaysEveryRequestAndForwardsIt) {
  constexpr milliseconds kLatency(20);
  auto memory = NewMemoryStore();
  LatencyInjectingStore store(memory.get(), kLatency);
  auto timed = [](auto&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return std::chrono::steady_clock::now() - start;
  };
  EXPECT_GE(timed([&] { EXPECT_TRUE(store.Put("k", "v").ok()); }), kLatency);
  EXPECT_GE(timed([&] { EXPECT_EQ(store.Get("k")->data, "v"); }), kLatency);
  EXPECT_GE(timed([&] { EXPECT_TRUE(store.Head("k").ok()); }), kLatency);
  EXPECT_GE(timed([&] { EXPECT_EQ(store.List(ListOptions{})->objects.size(), 1u); }), kLatency);
  EXPECT_GE(timed([&] { EXPECT_TRUE(store.Delete("k").ok()); }), kLatency);
  EXPECT_TRUE(memory->Head("k").status().IsNotFound()) << "the delete was forwarded";

  store.set_latency(microseconds(0));
  EXPECT_EQ(store.latency(), microseconds(0));
  EXPECT_TRUE(store.Get("k").status().IsNotFound());
}

class FaultInjectingStoreTest : public ::testing::Test {
 protected:
  std::unique_ptr<ObjectStore> memory_ = NewMemoryStore();
  FaultInjectingStore store_{memory_.get(), /*seed=*/7};
};

TEST_F(FaultInjectingStoreTest, ForwardsWhenNoFaultIsConfigured) {
  ASSERT_TRUE(store_.Put("k", "v").ok());
  EXPECT_EQ(store_.Get("k")->data, "v");
  EXPECT_TRUE(store_.Head("k").ok());
  EXPECT_TRUE(store_.List(ListOptions{}).ok());
  EXPECT_TRUE(store_.Delete("k").ok());
  EXPECT_EQ(store_.injected_failures(), 0u);
}

TEST_F(FaultInjectingStoreTest, ScriptedFailuresHitTheNextCallsOfThatKindOnly) {
  ASSERT_TRUE(memory_->Put("k", "v").ok());
  store_.FailNext(StoreOp::kGet, 2, Status::Unavailable("503"));
  store_.FailNext(StoreOp::kGet, 1, Status::Corruption("bad bytes"));
  EXPECT_TRUE(store_.Head("k").ok()) << "other kinds are unaffected";
  EXPECT_TRUE(store_.Get("k").status().IsUnavailable());
  EXPECT_TRUE(store_.Get("k").status().IsUnavailable());
  EXPECT_TRUE(store_.Get("k").status().IsCorruption());
  EXPECT_TRUE(store_.Get("k").ok());
  EXPECT_EQ(store_.injected_failures(StoreOp::kGet), 3u);
  EXPECT_EQ(store_.injected_failures(StoreOp::kHead), 0u);
  EXPECT_EQ(store_.injected_failures(), 3u);
}

TEST_F(FaultInjectingStoreTest, FailedRequestsDoNotReachTheTarget) {
  store_.FailNext(StoreOp::kPut, 1, Status::Unavailable("503"));
  EXPECT_TRUE(store_.Put("k", "v").status().IsUnavailable());
  EXPECT_TRUE(memory_->Head("k").status().IsNotFound());
  ASSERT_TRUE(memory_->Put("d", "v").ok());
  store_.FailNext(StoreOp::kDelete, 1, Status::IOError("boom"));
  EXPECT_FALSE(store_.Delete("d").ok());
  EXPECT_TRUE(memory_->Head("d").ok());
}

TEST_F(FaultInjectingStoreTest, RandomFailuresFollowTheSeed) {
  auto pattern = [](uint64_t seed) {
    auto memory = NewMemoryStore();
    FaultInjectingStore store(memory.get(), seed);
    store.SetFailureRate(StoreOp::kHead, 0.3, Status::Unavailable("slow down"));
    std::string bits;
    for (int i = 0; i < 400; ++i) {
      const Status s = store.Head("k").status();
      EXPECT_TRUE(s.IsUnavailable() || s.IsNotFound()) << s.ToString();
      bits += s.IsUnavailable() ? '1' : '0';
    }
    EXPECT_EQ(store.injected_failures(StoreOp::kHead),
              static_cast<uint64_t>(std::count(bits.begin(), bits.end(), '1')));
    return bits;
  };
  const std::string a = pattern(1);
  EXPECT_EQ(a, pattern(1)) << "same seed, same faults";
  EXPECT_NE(a, pattern(2));
  const auto failures = std::count(a.begin(), a.end(), '1');
  EXPECT_GT(failures, 60);  // 0.3 * 400 = 120 expected; fixed by the seed
  EXPECT_LT(failures, 180);
}

TEST_F(FaultInjectingStoreTest, ProbabilityZeroAndOne) {
  store_.SetFailureRate(StoreOp::kGet, 1.0, Status::Unavailable("always"));
  store_.SetFailureRate(StoreOp::kHead, 0.0, Status::Unavailable("never"));
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(store_.Get("k").status().IsUnavailable());
    EXPECT_TRUE(store_.Head("k").status().IsNotFound());
  }
  store_.SetFailureRate(StoreOp::kList, 5.0, Status::OK());  // clamped; OK becomes Internal
  EXPECT_EQ(store_.List(ListOptions{}).status().code(), StatusCode::kInternal);
}

TEST_F(FaultInjectingStoreTest, AmbiguousPutIsAppliedButAnsweredUnavailable) {
  store_.MakeNextPutsAmbiguous(1);
  EXPECT_TRUE(store_.Put("k", "v1").status().IsUnavailable());
  Result<GetResult> stored = memory_->Get("k");
  ASSERT_TRUE(stored.ok()) << "the write happened";
  EXPECT_EQ(stored->data, "v1");
  EXPECT_TRUE(store_.Put("k", "v2").ok()) << "only the next put was ambiguous";
  EXPECT_EQ(store_.ambiguous_puts(), 1u);

  // A put that the target rejects is answered Unavailable too: the answer is what is lost.
  store_.MakeNextPutsAmbiguous(1);
  EXPECT_TRUE(store_.Put("k", "v3", PutOptions{PutMode::kCreateOnly, ""}).status().IsUnavailable());
  EXPECT_EQ(memory_->Get("k")->data, "v2");

  store_.SetAmbiguousPutRate(1.0);
  EXPECT_TRUE(store_.Put("r", "x").status().IsUnavailable());
  EXPECT_TRUE(memory_->Head("r").ok());
  EXPECT_EQ(store_.ambiguous_puts(), 3u);
}

TEST_F(FaultInjectingStoreTest, OutageFailsEverythingUntilLifted) {
  ASSERT_TRUE(memory_->Put("k", "v").ok());
  store_.SetOutage(true);
  EXPECT_TRUE(store_.Get("k").status().IsUnavailable());
  EXPECT_TRUE(store_.Put("new", "v").status().IsUnavailable());
  EXPECT_TRUE(store_.Head("k").status().IsUnavailable());
  EXPECT_TRUE(store_.List(ListOptions{}).status().IsUnavailable());
  EXPECT_TRUE(store_.Delete("k").IsUnavailable());
  EXPECT_TRUE(memory_->Head("new").status().IsNotFound());
  EXPECT_TRUE(memory_->Head("k").ok());
  EXPECT_EQ(store_.injected_failures(), 5u);
  store_.SetOutage(false);
  EXPECT_TRUE(store_.Get("k").ok());
}

TEST_F(FaultInjectingStoreTest, ClearFaultsRemovesEveryRule) {
  store_.FailNext(StoreOp::kGet, 10, Status::Unavailable("x"));
  store_.SetFailureRate(StoreOp::kPut, 1.0, Status::Unavailable("x"));
  store_.MakeNextPutsAmbiguous(3);
  store_.SetOutage(true);
  store_.ClearFaults();
  EXPECT_TRUE(store_.Put("k", "v").ok());
  EXPECT_TRUE(store_.Get("k").ok());
  EXPECT_EQ(store_.injected_failures(), 0u);
}

TEST_F(FaultInjectingStoreTest, SafeUnderConcurrentUse) {
  store_.SetFailureRate(StoreOp::kPut, 0.5, Status::Unavailable("x"));
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        if (!store_.Put("k" + std::to_string(t), "v").ok()) ++failed;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(store_.injected_failures(StoreOp::kPut), static_cast<uint64_t>(failed.load()));
}

}  // namespace
}  // namespace vecpuff
