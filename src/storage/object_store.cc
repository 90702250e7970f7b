#include "storage/object_store.h"

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

}  // namespace vecpuff
