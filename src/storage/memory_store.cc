#include "storage/memory_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "common/clock.h"
#include "storage/store_rules.h"

namespace vecpuff {

namespace {

using storage_internal::ListBound;
using storage_internal::PageBuilder;

class MemoryStore final : public ObjectStore {
 public:
  Result<GetResult> Get(std::string_view key, std::optional<ByteRange> range) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    std::shared_ptr<const std::string> data;
    GetResult result;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = objects_.find(key);
      if (it == objects_.end()) return NotFound(key);
      data = it->second.data;
      result.meta = MetaOf(it->first, it->second);
    }
    // The bytes of a version are immutable and shared, so the copy happens unlocked.
    uint64_t begin = 0;
    uint64_t length = 0;
    VECPUFF_RETURN_IF_ERROR(storage_internal::ResolveRange(range, data->size(), &begin, &length));
    result.data.assign(*data, begin, length);
    return result;
  }

  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    if (options.mode == PutMode::kIfMatch && options.if_match_etag.empty()) {
      return Status::InvalidArgument("kIfMatch put without an etag");
    }
    auto bytes = std::make_shared<const std::string>(data);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    switch (options.mode) {
      case PutMode::kOverwrite:
        break;
      case PutMode::kCreateOnly:
        if (it != objects_.end()) {
          return Status::PreconditionFailed("create-only put of existing key " + std::string(key));
        }
        break;
      case PutMode::kIfMatch:
        if (it == objects_.end()) return NotFound(key);
        if (it->second.etag != options.if_match_etag) {
          return Status::PreconditionFailed("etag mismatch on " + std::string(key));
        }
        break;
    }
    Version version{std::move(bytes), NextEtag(), NowUnixMillis()};
    if (it == objects_.end()) {
      it = objects_.emplace(std::string(key), std::move(version)).first;
    } else {
      it->second = std::move(version);
    }
    return MetaOf(it->first, it->second);
  }

  Result<ObjectMeta> Head(std::string_view key) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    if (it == objects_.end()) return NotFound(key);
    return MetaOf(it->first, it->second);
  }

  Result<ListPage> List(const ListOptions& options) override {
    ListBound bound;
    int max_keys = 0;
    VECPUFF_RETURN_IF_ERROR(storage_internal::PrepareList(options, &bound, &max_keys));
    const std::string& prefix = options.prefix;
    const bool roll_up = !options.delimiter.empty();
    PageBuilder page(max_keys);

    std::lock_guard<std::mutex> lock(mu_);
    // Start at the first key that can be both under the prefix and after the bound.
    std::string start = bound.key;
    if (bound.is_prefix) start = storage_internal::PrefixSuccessor(bound.key);
    auto it = (bound.is_prefix && start.empty()) ? objects_.end()
                                                 : objects_.lower_bound(std::max(prefix, start));
    while (it != objects_.end() && it->first.starts_with(prefix)) {
      const std::string& key = it->first;
      if (!bound.Admits(key)) {
        ++it;
        continue;
      }
      const size_t slash = roll_up ? key.find('/', prefix.size()) : std::string::npos;
      if (slash == std::string::npos) {
        if (!page.AddObject(MetaOf(key, it->second))) break;
        ++it;
        continue;
      }
      // Keys under one common prefix are contiguous: emit it once and jump past them all.
      std::string common = key.substr(0, slash + 1);
      const std::string next = storage_internal::PrefixSuccessor(common);
      if (!page.AddCommonPrefix(std::move(common))) break;
      it = next.empty() ? objects_.end() : objects_.lower_bound(next);
    }
    return page.Finish();
  }

  Status Delete(std::string_view key) override {
    VECPUFF_RETURN_IF_ERROR(storage_internal::ValidateKey(key));
    std::lock_guard<std::mutex> lock(mu_);
    auto it = objects_.find(key);
    if (it != objects_.end()) objects_.erase(it);
    return Status::OK();
  }

  std::string Describe() const override { return "memory"; }

 private:
  struct Version {
    std::shared_ptr<const std::string> data;
    std::string etag;
    int64_t last_modified_ms = 0;
  };

  static Status NotFound(std::string_view key) {
    return Status::NotFound("no object " + std::string(key));
  }

  static ObjectMeta MetaOf(const std::string& key, const Version& v) {
    return ObjectMeta{key, v.data->size(), v.etag, v.last_modified_ms};
  }

  // REQUIRES: mu_ held.
  std::string NextEtag() {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "m%" PRIx64, ++last_version_);
    return buf;
  }

  std::mutex mu_;
  std::map<std::string, Version, std::less<>> objects_;  // guarded by mu_
  uint64_t last_version_ = 0;                            // guarded by mu_
};

}  // namespace

std::unique_ptr<ObjectStore> NewMemoryStore() { return std::make_unique<MemoryStore>(); }

}  // namespace vecpuff
