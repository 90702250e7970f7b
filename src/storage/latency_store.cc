#include "storage/latency_store.h"

#include <thread>

namespace vecpuff {

void LatencyInjectingStore::Sleep() const {
  const std::chrono::microseconds d = latency();
  // sleep_for sleeps at least `d` (it resumes after EINTR), which is all the tests rely on.
  if (d.count() > 0) std::this_thread::sleep_for(d);
}

Result<GetResult> LatencyInjectingStore::Get(std::string_view key, std::optional<ByteRange> range) {
  Sleep();
  return target()->Get(key, range);
}

Result<ObjectMeta> LatencyInjectingStore::Put(std::string_view key, std::string_view data,
                                              const PutOptions& options) {
  Sleep();
  return target()->Put(key, data, options);
}

Result<ObjectMeta> LatencyInjectingStore::Head(std::string_view key) {
  Sleep();
  return target()->Head(key);
}

Result<ListPage> LatencyInjectingStore::List(const ListOptions& options) {
  Sleep();
  return target()->List(options);
}

Status LatencyInjectingStore::Delete(std::string_view key) {
  Sleep();
  return target()->Delete(key);
}

std::string LatencyInjectingStore::Describe() const {
  return "latency(" + std::to_string(latency().count()) + "us, " + target()->Describe() + ")";
}

}  // namespace vecpuff
