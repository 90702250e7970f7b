// Fuzzes turbopuffer's filter language (query/filter.h): Filter::Parse on the fuzzer's JSON,
// then, for a filter that parses, its evaluation on fixed documents (fuzz_docs.h) plus any
// the input adds. Input: the filter's JSON text, optionally followed by a NUL byte and a
// JSON array of extra attribute objects.
// Properties (differential): Filter::Matches per document equals AttributeIndex::Matches
// over all of them at once (query/attribute_index.h); a posting summary of the documents
// (index/posting_summary.h) never rules out a filter that some document matches (MayMatch,
// query/posting_summary_match.h), nor does the summary after an encode/decode round trip.
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "fuzz_docs.h"
#include "index/posting_summary.h"
#include "query/attribute_index.h"
#include "query/filter.h"
#include "query/posting_summary_match.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vecpuff;
  using namespace vecpuff::fuzz;
  std::string_view input(reinterpret_cast<const char*>(data), size);
  std::string_view filter_text = input, docs_text;
  if (size_t nul = input.find('\0'); nul != std::string_view::npos) {
    filter_text = input.substr(0, nul);
    docs_text = input.substr(nul + 1);
  }
  nlohmann::json tree = nlohmann::json::parse(filter_text, nullptr, /*allow_exceptions=*/false);
  if (tree.is_discarded()) return 0;
  auto filter = Filter::Parse(tree);
  if (!filter.ok()) {
    FuzzCheck(filter.status().code() == StatusCode::kInvalidArgument,
              "Filter::Parse fails only with InvalidArgument");
    return 0;
  }
  const Filter& f = **filter;
  (void)f.attributes();

  std::vector<nlohmann::json> ids, attributes;
  for (const FuzzDoc& d : FixedDocs()) {
    ids.push_back(d.id);
    attributes.push_back(d.attributes);
  }
  if (!docs_text.empty()) {
    nlohmann::json extra = nlohmann::json::parse(docs_text, nullptr, false);
    if (extra.is_array()) {
      for (size_t i = 0; i < extra.size() && i < 16; ++i) {
        ids.push_back(i);  // u64 ids 0.. (the fixed ones are 1, 2^64-1, a UUID, strings)
        attributes.push_back(extra[i]);
      }
    }
  }
  std::vector<uint8_t> matches(attributes.size());
  bool any = false;
  for (size_t i = 0; i < attributes.size(); ++i) {
    matches[i] = f.Matches(ids[i], attributes[i]) ? 1 : 0;
    any = any || matches[i];
  }

  auto index = AttributeIndex::Build(attributes, ids);
  std::vector<uint8_t> mask;
  if (index->Matches(f, &mask)) {
    FuzzCheck(mask == matches, "AttributeIndex::Matches equals Filter::Matches");
  }

  PostingSummary summary = SummarizePosting(attributes);
  if (any) FuzzCheck(MayMatch(f, summary), "MayMatch never rules out a matching posting");
  auto decoded = DecodePostingSummary(EncodePostingSummary(summary));
  FuzzCheck(decoded.ok(), "a summary of documents round-trips");
  FuzzCheck(*decoded == summary, "summary round trip is exact");
  return 0;
}
