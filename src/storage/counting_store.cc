#include "storage/counting_store.h"

namespace vecpuff {

// Marks one request in flight for its lifetime and raises the peak if needed.
class CountingStore::InFlight {
 public:
  explicit InFlight(CountingStore* store) : store_(store) {
    const int64_t now = store_->in_flight_.fetch_add(1, std::memory_order_relaxed) + 1;
    int64_t peak = store_->peak_in_flight_.load(std::memory_order_relaxed);
    while (now > peak &&
           !store_->peak_in_flight_.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
    }
  }
  ~InFlight() { store_->in_flight_.fetch_sub(1, std::memory_order_relaxed); }
  InFlight(const InFlight&) = delete;
  InFlight& operator=(const InFlight&) = delete;

 private:
  CountingStore* store_;
};

Result<GetResult> CountingStore::Get(std::string_view key, std::optional<ByteRange> range) {
  gets_.fetch_add(1, std::memory_order_relaxed);
  InFlight in_flight(this);
  Result<GetResult> r = target()->Get(key, range);
  if (r.ok()) bytes_read_.fetch_add(r->data.size(), std::memory_order_relaxed);
  return r;
}

Result<ObjectMeta> CountingStore::Put(std::string_view key, std::string_view data,
                                      const PutOptions& options) {
  puts_.fetch_add(1, std::memory_order_relaxed);
  bytes_written_.fetch_add(data.size(), std::memory_order_relaxed);
  InFlight in_flight(this);
  return target()->Put(key, data, options);
}

Result<ObjectMeta> CountingStore::Head(std::string_view key) {
  heads_.fetch_add(1, std::memory_order_relaxed);
  InFlight in_flight(this);
  return target()->Head(key);
}

Result<ListPage> CountingStore::List(const ListOptions& options) {
  lists_.fetch_add(1, std::memory_order_relaxed);
  InFlight in_flight(this);
  return target()->List(options);
}

Status CountingStore::Delete(std::string_view key) {
  deletes_.fetch_add(1, std::memory_order_relaxed);
  InFlight in_flight(this);
  return target()->Delete(key);
}

std::string CountingStore::Describe() const { return "counting(" + target()->Describe() + ")"; }

CountingStore::Counts CountingStore::counts() const {
  Counts c;
  c.gets = gets_.load(std::memory_order_relaxed);
  c.puts = puts_.load(std::memory_order_relaxed);
  c.heads = heads_.load(std::memory_order_relaxed);
  c.lists = lists_.load(std::memory_order_relaxed);
  c.deletes = deletes_.load(std::memory_order_relaxed);
  c.bytes_read = bytes_read_.load(std::memory_order_relaxed);
  c.bytes_written = bytes_written_.load(std::memory_order_relaxed);
  c.in_flight = in_flight_.load(std::memory_order_relaxed);
  c.peak_in_flight = peak_in_flight_.load(std::memory_order_relaxed);
  return c;
}

void CountingStore::Reset() {
  gets_.store(0, std::memory_order_relaxed);
  puts_.store(0, std::memory_order_relaxed);
  heads_.store(0, std::memory_order_relaxed);
  lists_.store(0, std::memory_order_relaxed);
  deletes_.store(0, std::memory_order_relaxed);
  bytes_read_.store(0, std::memory_order_relaxed);
  bytes_written_.store(0, std::memory_order_relaxed);
  peak_in_flight_.store(in_flight_.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

}  // namespace vecpuff
