#include "storage/fault_injection_store.h"

#include <utility>

namespace vecpuff {

namespace {

double Clamp01(double p) {
  if (!(p > 0)) return 0;  // also maps NaN to 0
  return p > 1 ? 1 : p;
}

Status NonOk(Status status) {
  if (status.ok()) return Status::Internal("fault rule configured with an OK status");
  return status;
}

size_t Index(StoreOp op) { return static_cast<size_t>(op); }

}  // namespace

FaultInjectingStore::FaultInjectingStore(ObjectStore* target, uint64_t seed)
    : ObjectStoreWrapper(target), rng_(seed) {}

double FaultInjectingStore::Uniform() {
  // 53 random bits scaled to [0, 1): the same sequence on every platform, unlike
  // std::uniform_real_distribution.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

Status FaultInjectingStore::NextFault(StoreOp op) {
  Status fault;
  if (outage_.load(std::memory_order_relaxed)) {
    fault = Status::Unavailable("injected outage");
  } else {
    std::lock_guard<std::mutex> lock(mu_);
    Rules& rules = rules_[Index(op)];
    if (!rules.scripted.empty()) {
      fault = rules.scripted.front().status;
      if (--rules.scripted.front().remaining <= 0) rules.scripted.pop_front();
    } else if (rules.probability > 0 && Uniform() < rules.probability) {
      fault = rules.status;
    }
  }
  if (!fault.ok()) injected_[Index(op)].fetch_add(1, std::memory_order_relaxed);
  return fault;
}

bool FaultInjectingStore::NextPutAmbiguous() {
  std::lock_guard<std::mutex> lock(mu_);
  if (ambiguous_next_ > 0) {
    --ambiguous_next_;
    return true;
  }
  return ambiguous_probability_ > 0 && Uniform() < ambiguous_probability_;
}

Result<GetResult> FaultInjectingStore::Get(std::string_view key, std::optional<ByteRange> range) {
  Status fault = NextFault(StoreOp::kGet);
  if (!fault.ok()) return fault;
  return target()->Get(key, range);
}

Result<ObjectMeta> FaultInjectingStore::Put(std::string_view key, std::string_view data,
                                            const PutOptions& options) {
  Status fault = NextFault(StoreOp::kPut);
  if (!fault.ok()) return fault;
  if (!NextPutAmbiguous()) return target()->Put(key, data, options);
  // The request reaches the store and takes effect (or not); only its answer is lost.
  Result<ObjectMeta> ignored = target()->Put(key, data, options);
  (void)ignored;
  ambiguous_puts_.fetch_add(1, std::memory_order_relaxed);
  return Status::Unavailable("injected: put response lost");
}

Result<ObjectMeta> FaultInjectingStore::Head(std::string_view key) {
  Status fault = NextFault(StoreOp::kHead);
  if (!fault.ok()) return fault;
  return target()->Head(key);
}

Result<ListPage> FaultInjectingStore::List(const ListOptions& options) {
  Status fault = NextFault(StoreOp::kList);
  if (!fault.ok()) return fault;
  return target()->List(options);
}

Status FaultInjectingStore::Delete(std::string_view key) {
  Status fault = NextFault(StoreOp::kDelete);
  if (!fault.ok()) return fault;
  return target()->Delete(key);
}

std::string FaultInjectingStore::Describe() const { return "faults(" + target()->Describe() + ")"; }

void FaultInjectingStore::SetFailureRate(StoreOp op, double probability, Status status) {
  std::lock_guard<std::mutex> lock(mu_);
  rules_[Index(op)].probability = Clamp01(probability);
  rules_[Index(op)].status = NonOk(std::move(status));
}

void FaultInjectingStore::FailNext(StoreOp op, int count, Status status) {
  if (count <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  rules_[Index(op)].scripted.push_back(Scripted{count, NonOk(std::move(status))});
}

void FaultInjectingStore::MakeNextPutsAmbiguous(int count) {
  if (count <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  ambiguous_next_ += count;
}

void FaultInjectingStore::SetAmbiguousPutRate(double probability) {
  std::lock_guard<std::mutex> lock(mu_);
  ambiguous_probability_ = Clamp01(probability);
}

void FaultInjectingStore::SetOutage(bool on) { outage_.store(on, std::memory_order_relaxed); }

void FaultInjectingStore::ClearFaults() {
  std::lock_guard<std::mutex> lock(mu_);
  for (Rules& rules : rules_) rules = Rules();
  ambiguous_next_ = 0;
  ambiguous_probability_ = 0;
  outage_.store(false, std::memory_order_relaxed);
}

uint64_t FaultInjectingStore::injected_failures(StoreOp op) const {
  return injected_[Index(op)].load(std::memory_order_relaxed);
}

uint64_t FaultInjectingStore::injected_failures() const {
  uint64_t total = 0;
  for (const auto& n : injected_) total += n.load(std::memory_order_relaxed);
  return total;
}

uint64_t FaultInjectingStore::ambiguous_puts() const {
  return ambiguous_puts_.load(std::memory_order_relaxed);
}

}  // namespace vecpuff
