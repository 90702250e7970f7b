#include "storage/object_store.h"

#include <algorithm>
#include <atomic>
#include <thread>

namespace vecpuff {

Result<std::vector<ObjectMeta>> ListAll(ObjectStore* store, std::string_view prefix,
                                        std::string_view start_after) {
  std::vector<ObjectMeta> all;
  ListOptions options;
  options.prefix = std::string(prefix);
  options.start_after = std::string(start_after);
  while (true) {
    VECPUFF_ASSIGN_OR_RETURN(ListPage page, store->List(options));
    for (auto& o : page.objects) all.push_back(std::move(o));
    if (page.next_continuation_token.empty()) break;
    options.continuation_token = std::move(page.next_continuation_token);
  }
  return all;
}

Status ObjectStore::DeleteMany(const std::vector<std::string>& keys) {
  for (const std::string& key : keys) VECPUFF_RETURN_IF_ERROR(Delete(key));
  return Status::OK();
}

std::vector<Result<GetResult>> ParallelGet(ObjectStore* store, const std::vector<std::string>& keys,
                                           size_t max_concurrency) {
  std::vector<Result<GetResult>> results(keys.size(), Result<GetResult>(Status::Aborted("")));
  if (keys.empty()) return results;
  const size_t workers = std::clamp<size_t>(max_concurrency, 1, keys.size());
  if (workers == 1) {
    for (size_t i = 0; i < keys.size(); ++i) results[i] = store->Get(keys[i]);
    return results;
  }
  // Each worker claims the next unclaimed key; every slot is written by exactly one worker.
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < keys.size(); i = next++) results[i] = store->Get(keys[i]);
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  return results;
}

std::vector<Result<GetResult>> ParallelGetRanges(ObjectStore* store,
                                                 const std::vector<GetRequest>& requests,
                                                 size_t max_concurrency) {
  std::vector<Result<GetResult>> results(requests.size(), Result<GetResult>(Status::Aborted("")));
  if (requests.empty()) return results;
  const size_t workers = std::clamp<size_t>(max_concurrency, 1, requests.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < requests.size(); i = next++) {
      results[i] = store->Get(requests[i].key, requests[i].range);
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(workers - 1);
  for (size_t t = 1; t < workers; ++t) threads.emplace_back(work);
  work();
  for (std::thread& t : threads) t.join();
  return results;
}

}  // namespace vecpuff
