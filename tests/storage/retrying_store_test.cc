// RetryingStore: which errors are retried, the backoff and its bounds, and how ambiguous
// conditional puts are resolved. A fake clock that advances when slept on keeps these
// tests instant and exact.

#include "storage/retrying_store.h"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <vector>

#include "storage/counting_store.h"
#include "storage/fault_injection_store.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

class FakeClock {
 public:
  std::chrono::steady_clock::time_point Now() {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  void Sleep(microseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    sleeps_.push_back(d);
    now_ += d;
  }
  void Advance(microseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
  }
  std::vector<microseconds> sleeps() {
    std::lock_guard<std::mutex> lock(mu_);
    return sleeps_;
  }
  microseconds total_slept() {
    std::lock_guard<std::mutex> lock(mu_);
    microseconds total(0);
    for (microseconds d : sleeps_) total += d;
    return total;
  }

 private:
  std::mutex mu_;
  std::chrono::steady_clock::time_point now_{};
  std::vector<microseconds> sleeps_;
};

// memory <- counting (sees the attempts that reach storage) <- faults <- retrying
class RetryingStoreTest : public ::testing::Test {
 protected:
  RetryOptions Options() {
    RetryOptions o;
    o.jitter_seed = 99;
    o.now = [this] { return clock_.Now(); };
    o.sleep = [this](microseconds d) { clock_.Sleep(d); };
    return o;
  }

  void Build(RetryOptions options) {
    retrying_ = std::make_unique<RetryingStore>(&faults_, options);
  }

  void SetUp() override { Build(Options()); }

  static PutOptions CreateOnly() { return PutOptions{PutMode::kCreateOnly, ""}; }
  static PutOptions IfMatch(std::string etag) {
    return PutOptions{PutMode::kIfMatch, std::move(etag)};
  }

  FakeClock clock_;
  std::unique_ptr<ObjectStore> memory_ = NewMemoryStore();
  CountingStore counting_{memory_.get()};
  FaultInjectingStore faults_{&counting_, /*seed=*/3};
  std::unique_ptr<RetryingStore> retrying_;
};

TEST_F(RetryingStoreTest, RetriesTransientFailuresOfEveryKind) {
  ASSERT_TRUE(memory_->Put("k", "v").ok());
  for (StoreOp op :
       {StoreOp::kGet, StoreOp::kPut, StoreOp::kHead, StoreOp::kList, StoreOp::kDelete}) {
    faults_.FailNext(op, 3, Status::Unavailable("503 slow down"));
  }
  Result<GetResult> got = retrying_->Get("k");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->data, "v");
  EXPECT_TRUE(retrying_->Head("k").ok());
  EXPECT_TRUE(retrying_->List(ListOptions{}).ok());
  EXPECT_TRUE(retrying_->Put("k", "v2").ok());
  EXPECT_TRUE(retrying_->Delete("k").ok());
  EXPECT_EQ(retrying_->retries(), 15u);
  EXPECT_EQ(retrying_->gave_up(), 0u);
  EXPECT_EQ(clock_.sleeps().size(), 15u);
  EXPECT_EQ(counting_.counts().requests(), 5u) << "failed attempts never reached storage";
}

TEST_F(RetryingStoreTest, GivesUpAfterMaxAttempts) {
  faults_.SetOutage(true);
  Result<GetResult> r = retrying_->Get("k");
  EXPECT_TRUE(r.status().IsUnavailable());
  EXPECT_NE(r.status().message().find("gave up after 6 attempts"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(faults_.injected_failures(StoreOp::kGet), 6u);
  EXPECT_EQ(retrying_->retries(), 5u);
  EXPECT_EQ(retrying_->gave_up(), 1u);
}

TEST_F(RetryingStoreTest, BackoffIsExponentialCappedAndJittered) {
  RetryOptions o = Options();
  o.max_attempts = 12;
  o.base_backoff = milliseconds(10);
  o.max_backoff = milliseconds(100);
  o.total_budget = std::chrono::seconds(100);
  Build(o);
  faults_.SetOutage(true);
  EXPECT_TRUE(retrying_->Head("k").status().IsUnavailable());
  const std::vector<microseconds> sleeps = clock_.sleeps();
  ASSERT_EQ(sleeps.size(), 11u);
  bool all_equal = true;
  for (size_t i = 0; i < sleeps.size(); ++i) {
    const microseconds ceiling = std::min<microseconds>(milliseconds(100), milliseconds(10 << i));
    EXPECT_GE(sleeps[i].count(), 0);
    EXPECT_LE(sleeps[i], ceiling) << "retry " << i + 1;
    all_equal = all_equal && sleeps[i] == sleeps[0];
  }
  EXPECT_FALSE(all_equal) << "full jitter draws random delays";
}

TEST_F(RetryingStoreTest, GivesUpWithinTheTimeBudget) {
  RetryOptions o = Options();
  o.max_attempts = 1000;
  o.base_backoff = milliseconds(10);
  o.max_backoff = milliseconds(50);
  o.total_budget = milliseconds(300);
  Build(o);
  faults_.SetOutage(true);
  Status s = retrying_->Delete("k");
  EXPECT_TRUE(s.IsUnavailable());
  EXPECT_LE(clock_.total_slept(), milliseconds(300));
  EXPECT_LT(faults_.injected_failures(), 1000u) << "the budget, not the attempts, stopped it";
  EXPECT_EQ(retrying_->gave_up(), 1u);
}

TEST_F(RetryingStoreTest, SlowAttemptsCountAgainstTheBudget) {
  RetryOptions o = Options();
  o.max_attempts = 100;
  o.base_backoff = microseconds(0);  // no sleeping at all: only attempt time is spent
  o.total_budget = milliseconds(100);
  Build(o);
  // Every attempt "takes" 30 ms of fake time before failing.
  class SlowFailing : public ObjectStoreWrapper {
   public:
    SlowFailing(ObjectStore* t, FakeClock* c) : ObjectStoreWrapper(t), clock_(c) {}
    Result<ObjectMeta> Head(std::string_view) override {
      clock_->Advance(milliseconds(30));
      ++attempts;
      return Status::Unavailable("timeout");
    }
    int attempts = 0;

   private:
    FakeClock* clock_;
  } slow(memory_.get(), &clock_);
  RetryingStore store(&slow, o);
  EXPECT_TRUE(store.Head("k").status().IsUnavailable());
  EXPECT_EQ(slow.attempts, 4);  // at 30, 60, 90 ms it retries; at 120 ms it is over budget
}

TEST_F(RetryingStoreTest, NonRetryableErrorsAreReturnedAtOnce) {
  for (const Status& s :
       {Status::InvalidArgument("bad"), Status::NotFound("404"), Status::PreconditionFailed("412"),
        Status::Corruption("crc"), Status::IOError("eio"), Status::ResourceExhausted("full"),
        Status::Unauthenticated("403")}) {
    faults_.FailNext(StoreOp::kGet, 1, s);
    EXPECT_EQ(retrying_->Get("k").status().code(), s.code()) << s.ToString();
    faults_.FailNext(StoreOp::kPut, 1, s);
    EXPECT_EQ(retrying_->Put("k", "v", CreateOnly()).status().code(), s.code()) << s.ToString();
  }
  EXPECT_EQ(retrying_->retries(), 0u);
  EXPECT_TRUE(clock_.sleeps().empty());
  EXPECT_EQ(counting_.counts().requests(), 0u);
}

TEST_F(RetryingStoreTest, AmbiguousCreateOnlyIsRecognizedAsOwnSuccess) {
  faults_.MakeNextPutsAmbiguous(1);  // applied, answer lost; the retry then finds the key
  Result<ObjectMeta> r = retrying_->Put("wal/1", "entry from writer A", CreateOnly());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->etag, memory_->Head("wal/1")->etag) << "the meta of the stored version";
  EXPECT_EQ(r->size_bytes, 19u);
  EXPECT_EQ(retrying_->ambiguous_puts_won(), 1u);
  EXPECT_EQ(counting_.counts().puts, 2u);
  EXPECT_EQ(counting_.counts().gets, 1u) << "one read to compare";
}

TEST_F(RetryingStoreTest, RealLostCreateRaceStaysPreconditionFailed) {
  ASSERT_TRUE(memory_->Put("wal/1", "entry from writer B").ok());  // B won earlier
  faults_.MakeNextPutsAmbiguous(1);  // our first attempt's answer (412) is lost
  Result<ObjectMeta> r = retrying_->Put("wal/1", "entry from writer A", CreateOnly());
  EXPECT_TRUE(r.status().IsPreconditionFailed()) << r.status().ToString();
  EXPECT_EQ(memory_->Get("wal/1")->data, "entry from writer B");
  EXPECT_EQ(retrying_->ambiguous_puts_lost(), 1u);
  EXPECT_EQ(retrying_->ambiguous_puts_won(), 0u);
}

TEST_F(RetryingStoreTest, LostCreateRaceWithoutAmbiguityIsNotResolved) {
  ASSERT_TRUE(memory_->Put("k", "theirs").ok());
  EXPECT_TRUE(retrying_->Put("k", "theirs", CreateOnly()).status().IsPreconditionFailed())
      << "no earlier attempt was ambiguous, so equal bytes are someone else's";
  EXPECT_EQ(counting_.counts().gets, 0u);
}

TEST_F(RetryingStoreTest, AmbiguousIfMatchIsRecognizedAsOwnSuccess) {
  const ObjectMeta v1 = memory_->Put("manifest", "v1").value();
  faults_.MakeNextPutsAmbiguous(1);
  Result<ObjectMeta> r = retrying_->Put("manifest", "v2 by A", IfMatch(v1.etag));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(memory_->Get("manifest")->data, "v2 by A");
  EXPECT_EQ(r->etag, memory_->Head("manifest")->etag);
  EXPECT_EQ(retrying_->ambiguous_puts_won(), 1u);
}

TEST_F(RetryingStoreTest, IfMatchLostToAnotherWriterDuringRetryStaysPreconditionFailed) {
  const ObjectMeta v1 = memory_->Put("manifest", "v1").value();
  // Our first attempt fails cleanly; while we back off, writer B replaces the manifest.
  faults_.FailNext(StoreOp::kPut, 1, Status::Unavailable("timeout"));
  RetryOptions o = Options();
  o.sleep = [this](microseconds) { ASSERT_TRUE(memory_->Put("manifest", "v2 by B").ok()); };
  Build(o);
  Result<ObjectMeta> r = retrying_->Put("manifest", "v2 by A", IfMatch(v1.etag));
  EXPECT_TRUE(r.status().IsPreconditionFailed()) << r.status().ToString();
  EXPECT_EQ(memory_->Get("manifest")->data, "v2 by B");
  EXPECT_EQ(retrying_->ambiguous_puts_lost(), 1u);
}

TEST_F(RetryingStoreTest, IdenticalBytesFromAnotherWriterAreTakenAsOurs) {
  // The documented limit of resolving by content: writers must make their bytes unique.
  const ObjectMeta v1 = memory_->Put("counter", "1").value();
  faults_.FailNext(StoreOp::kPut, 1, Status::Unavailable("timeout"));  // ours not applied
  RetryOptions o = Options();
  o.sleep = [this](microseconds) { ASSERT_TRUE(memory_->Put("counter", "2").ok()); };
  Build(o);
  EXPECT_TRUE(retrying_->Put("counter", "2", IfMatch(v1.etag)).ok());
}

TEST_F(RetryingStoreTest, AmbiguityThatCannotBeResolvedStaysUnavailable) {
  faults_.MakeNextPutsAmbiguous(1);
  faults_.FailNext(StoreOp::kGet, 100, Status::Unavailable("still down"));
  Result<ObjectMeta> r = retrying_->Put("k", "mine", CreateOnly());
  EXPECT_TRUE(r.status().IsUnavailable()) << r.status().ToString();
}

TEST_F(RetryingStoreTest, AmbiguousOverwriteIsSimplyRetried) {
  faults_.MakeNextPutsAmbiguous(1);
  ASSERT_TRUE(retrying_->Put("k", "v").ok());
  EXPECT_EQ(memory_->Get("k")->data, "v");
  EXPECT_EQ(counting_.counts().gets, 0u);
}

TEST_F(RetryingStoreTest, RealClockAndSleepWork) {
  RetryOptions o;  // no hooks: steady_clock and sleep_for
  o.base_backoff = microseconds(100);
  o.max_backoff = microseconds(500);
  RetryingStore store(&faults_, o);
  faults_.FailNext(StoreOp::kGet, 2, Status::Unavailable("503"));
  ASSERT_TRUE(memory_->Put("k", "v").ok());
  EXPECT_TRUE(store.Get("k").ok());
  EXPECT_EQ(store.retries(), 2u);
  EXPECT_NE(store.Describe().find("retrying("), std::string::npos);
}

}  // namespace
}  // namespace vecpuff

namespace vecpuff {
namespace {

// Fails the first `failures` batch deletes with Unavailable.
class FlakyBatchDelete : public ObjectStoreWrapper {
 public:
  FlakyBatchDelete(ObjectStore* target, int failures)
      : ObjectStoreWrapper(target), failures_(failures) {}
  Status DeleteMany(const std::vector<std::string>& keys) override {
    ++calls;
    if (failures_ > 0) {
      --failures_;
      return Status::Unavailable("injected 503");
    }
    return ObjectStoreWrapper::DeleteMany(keys);
  }
  int calls = 0;

 private:
  int failures_;
};

TEST(RetryingStoreDeleteMany, BatchDeletesAreRetried) {
  auto memory = NewMemoryStore();
  ASSERT_TRUE(memory->Put("a", "1").ok());
  ASSERT_TRUE(memory->Put("b", "2").ok());
  FlakyBatchDelete flaky(memory.get(), 2);
  RetryOptions o;
  o.sleep = [](std::chrono::microseconds) {};
  RetryingStore retrying(&flaky, o);
  EXPECT_TRUE(retrying.DeleteMany({"a", "b"}).ok());
  EXPECT_EQ(flaky.calls, 3);
  EXPECT_TRUE(memory->Head("a").status().IsNotFound());
  EXPECT_TRUE(memory->Head("b").status().IsNotFound());
}

}  // namespace
}  // namespace vecpuff
