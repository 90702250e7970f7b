// AttributeIndex: the attribute values of one posting list's entries, sorted per attribute,
// so that a filter (filter.h) is judged on the whole posting at once in about
// O(conditions x (log n + matches)) rather than by Filter::Matches entry by entry. The result
// is exactly Filter::Matches for every entry and every filter: the two evaluators share the
// value comparisons of filter_internal.h, and a differential test holds them together.
//
// Per attribute it keeps the entries that have a (non-null) value, and the values split by
// kind, each list sorted: booleans, numbers by exact value, strings bytewise, RFC 3339
// timestamps by instant (and bytewise); array values also per element. Then Eq/In/Contains/
// ContainsAny are equal-range lookups, Lt..AnyGte binary searches, the Not* forms the
// complement of their positive form (so a missing value matches them), And/Or/Not combine
// masks, and Glob/IGlob/Regex run RE2 once per distinct string. Only Eq/In with a
// whole-array value test each array-valued entry of that attribute one by one.
//
// Build cost: one pass over the entries plus a sort per attribute list; strings are not
// copied (the index refers to the strings inside the attribute JSON, see Build()).
//
// Thread safety: immutable once built; any number of threads may call Matches() at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <vector>

#include "query/filter.h"

namespace vecpuff {

class AttributeIndex {
 public:
  // Indexes a posting's entries: attributes[i] is entry i's attributes object (as for
  // Filter::Matches, a JSON null and a missing key both mean no value, and a non-object is
  // an entry without attributes). `ids` is empty, or ids[i] is entry i's id as the API shows
  // it (DocKeyToJson); an index without ids cannot judge filters on the id (see Matches()).
  // The ids are moved into the index.
  //
  // REQUIRES: `attributes` outlives the index and is not modified while it lives: the index
  // refers to the strings and arrays inside it rather than copying them. (Moving the vector
  // keeps them in place; copying it and dropping the original does not.)
  // REQUIRES: attributes.size() < 2^32; ids empty or ids.size() == attributes.size().
  static std::unique_ptr<const AttributeIndex> Build(const std::vector<nlohmann::json>& attributes,
                                                     std::vector<nlohmann::json> ids = {});

  // The number of entries.
  size_t size() const { return size_; }
  // Whether the index was built with ids (always so when size() is 0).
  bool has_ids() const { return has_ids_; }

  // Sets *mask to size() bytes, (*mask)[i] = 1 if entry i matches `filter` (exactly
  // filter.Matches(ids[i], attributes[i])) and 0 otherwise. Returns false, leaving *mask
  // unspecified, when it cannot: the filter reads the id and the index has no ids, or memory
  // ran out; the caller then evaluates Filter::Matches entry by entry. Never throws.
  [[nodiscard]] bool Matches(const Filter& filter, std::vector<uint8_t>* mask) const;

  // Approximate heap bytes held by the index (not counting the attribute JSON it refers
  // to), for cache accounting.
  size_t MemoryBytes() const;

  ~AttributeIndex();
  AttributeIndex(const AttributeIndex&) = delete;
  AttributeIndex& operator=(const AttributeIndex&) = delete;

  struct Rep;  // the sorted lists (attribute_index.cc)

 private:
  AttributeIndex();

  size_t size_ = 0;
  bool has_ids_ = false;
  std::unique_ptr<Rep> rep_;
};

}  // namespace vecpuff
