// Fuzzes the write request decoders of both HTTP APIs: the original API's ParseWriteRequest
// (api/json_codec.h) and turbopuffer v2's, as TpufService::Write runs it on a
// POST /v2/namespaces/{ns} body (ParseJsonBody, then ParseTpufWrite in api/tpuf_codec.h),
// plus ParseTpufSchema (the schema update body). Input: the request body; every decoder
// runs on every input.
// Properties: decoders fail only with InvalidArgument; what they accept is well formed
// (finite vectors; string ids within the id limit; filters of filter-based writes evaluate).
#include <cmath>
#include <string>

#include "api/json_codec.h"
#include "api/tpuf_codec.h"
#include "fuzz_common.h"
#include "fuzz_docs.h"
#include "query/filter.h"

namespace vecpuff::fuzz {
namespace {

// The server's default (config/options.h: limits.max_id_bytes).
constexpr size_t kMaxIdBytes = 64;

void CheckInvalidArgument(const Status& s, const char* what) {
  if (s.ok() || s.code() == StatusCode::kInvalidArgument) return;
  std::fprintf(stderr, "fuzz property violated: %s returned %s\n", what, s.ToString().c_str());
  std::abort();
}

void CheckVector(const std::vector<float>& v) {
  for (float f : v) FuzzCheck(std::isfinite(f), "decoded vectors are finite");
}

void Evaluate(const std::shared_ptr<const Filter>& filter) {
  if (filter == nullptr) return;
  for (const FuzzDoc& d : FixedDocs()) (void)filter->Matches(d.id, d.attributes);
}

void CheckRequest(const WriteRequest& r, bool tpuf) {
  for (const UpsertRow& row : r.upsert_rows) {
    CheckVector(row.vector);
    if (tpuf) FuzzCheck(row.id.size() <= kMaxIdBytes + 1, "ids within the id limit");
  }
  Evaluate(r.delete_by_filter);
  Evaluate(r.patch_by_filter);
}

}  // namespace
}  // namespace vecpuff::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace vecpuff;
  using namespace vecpuff::fuzz;
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  Result<WriteRequest> original = ParseWriteRequest(body);
  CheckInvalidArgument(original.status(), "ParseWriteRequest");
  if (original.ok()) CheckRequest(*original, false);

  Result<nlohmann::json> tree = ParseJsonBody(body);
  CheckInvalidArgument(tree.status(), "ParseJsonBody");
  if (!tree.ok()) {
    // The one-pass reader and nlohmann's parser accept the same JSON (json_reader.h), but
    // for numbers beyond a double, which only the reader rejects.
    return 0;
  }
  Result<WriteRequest> tpuf = ParseTpufWrite(*tree, kMaxIdBytes);
  CheckInvalidArgument(tpuf.status(), "ParseTpufWrite");
  if (tpuf.ok()) CheckRequest(*tpuf, true);

  bool vector_f16 = false;
  auto schema = ParseTpufSchema(*tree, "schema", &vector_f16);
  CheckInvalidArgument(schema.status(), "ParseTpufSchema");
  return 0;
}
