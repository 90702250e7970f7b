// The multi-process concurrency suite: three vecpuff processes share one store (one local
// directory, or one bucket on the S3 test server), each with an aggressive compactor, while
// writer threads against every process upsert, patch and delete documents of the same two
// namespaces and query threads against every process run strong queries. Afterwards the
// namespaces' WAL is read from the store and replayed, and the test checks:
//  - the WAL holds every acknowledged request exactly once, as sent, and nothing else;
//  - WAL order respects real time: a request acknowledged before another was sent comes
//    first in the log (so per document, the last writer in real time wins);
//  - all three processes return the replayed final state (exact and ANN queries), before
//    and after their indexes catch up, and agree on the index's row count;
//  - every query answered 200 and returned a state the log passed through (a prefix of the
//    log that holds every write acknowledged before the query was sent and nothing sent
//    after it was answered), and in particular never a document deleted by a write
//    acknowledged before the query was sent, and always a document upserted by one.
// Ids are designed so that these rules are simple: "s<k>" ids are shared by every writer
// and never deleted; "f-..." ids are upserted once by one writer, then perhaps patched, then
// perhaps deleted, and never written again after their delete.
#include <gtest/gtest.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/coding.h"
#include "common/hash.h"
#include "server_process.h"
#include "storage/local_store.h"
#include "storage/object_store.h"
#include "storage/s3/s3_store.h"
#include "test_util.h"

namespace vecpuff::testing {
namespace {

using nlohmann::json;

constexpr int kProcesses = 3;
constexpr int kWritersPerProcess = 2;
constexpr int kQueryThreadsPerProcess = 1;
constexpr int kRequestsPerWriter = 50;
constexpr int kMaxQueriesPerThread = 300;
constexpr int kSharedIds = 12;
constexpr int kDims = 4;
constexpr int kTopK = 10000;  // the server's max_top_k: more than a namespace here holds
constexpr int kNumNamespaces = 2;
const char* const kNamespaces[kNumNamespaces] = {"mp-alpha", "mp-beta"};
// Writers store a request's part of a WAL entry uncompressed when it is under 256 bytes
// (src/wal/wal_format.cc); the test keeps every request below that, so that it can decode
// the WAL without zstd (vecpuff_wal is not linked into this binary).
constexpr size_t kMaxUncompressedRequestBytes = 256;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// WAL op types (docs/wal_format.md).
enum class OpKind : uint8_t { kUpsert = 1, kPatch = 2, kDelete = 3 };

struct Op {
  OpKind kind = OpKind::kUpsert;
  std::string id;
  std::vector<float> vector;  // upserts
  std::string attributes;     // upserts and patches: a JSON object, dumped (keys sorted)
  bool operator==(const Op&) const = default;
};

struct Doc {
  std::vector<float> vector;
  std::string attributes;  // a JSON object, dumped (keys sorted)
  bool operator==(const Doc&) const = default;
};

std::string Describe(const std::optional<Doc>& d) {
  if (!d) return "<absent>";
  json v = d->vector;
  return v.dump() + " " + d->attributes;
}

// One write request as the client sent it, and what came of it.
struct WriteRecord {
  int ns = 0;
  std::string key;  // identifies its WAL request: the tag of its upserts and patches
  std::vector<Op> ops;
  int64_t send_ns = 0, ack_ns = 0;
  int status = 0;  // 0: no response
  std::string reply;
  // From the WAL: the entry's seq (0 if absent) and the request's index within it.
  uint64_t seq = 0;
  size_t index = 0;
};

// The request's key as the WAL shows it: the tag its upserts ("u") or patches ("p") carry,
// else (deletes only) the first deleted id.
std::string RequestKey(const std::vector<Op>& ops) {
  for (const Op& op : ops) {
    if (op.kind == OpKind::kDelete) continue;
    json a = json::parse(op.attributes, nullptr, false);
    if (a.is_object()) {
      if (a.contains("u")) return a["u"].get<std::string>();
      if (a.contains("p")) return a["p"].get<std::string>();
    }
  }
  return ops.empty() ? "" : "delete:" + ops[0].id;
}

// A request's part of a WAL body, uncompressed (src/wal/wal_format.cc RequestRawSize).
size_t RawRequestBytes(const std::vector<Op>& ops) {
  size_t n = 4;
  for (const Op& op : ops) {
    n += 2 + 4 + op.id.size();
    if (op.kind == OpKind::kUpsert) n += 4 + 4 * op.vector.size();
    if (op.kind != OpKind::kDelete) n += 4 + op.attributes.size();
  }
  return n;
}

enum QueryKind { kExactAll = 0, kAnnAll = 1, kFilteredIds = 2, kQueryKinds = 3 };
const char* const kQueryKindNames[kQueryKinds] = {"exact", "ann", "filtered"};

struct QueryRecord {
  int ns = 0;
  int process = 0;
  QueryKind kind = kExactAll;
  std::vector<std::string> ids;  // kFilteredIds: the ids asked for (the query's universe)
  int64_t send_ns = 0, ack_ns = 0;
  int status = 0;
  std::string error;
  std::map<std::string, Doc> docs;
};

// State shared by the threads of one run.
struct Shared {
  std::mutex mu;
  std::vector<std::string> acked_fresh[kNumNamespaces];  // for filtered queries to ask for
};

std::vector<float> RandomVector(std::mt19937_64& rng) {
  std::vector<float> v(kDims);
  // Multiples of 1/256: exact in float and in JSON.
  for (float& x : v) x = static_cast<float>(static_cast<int>(rng() % 513) - 256) / 256.0f;
  return v;
}

// Parses the rows of a query answer (original API "results" or v2 "rows") into documents.
bool ParseRows(const json& rows, std::map<std::string, Doc>* docs, std::string* error) {
  if (!rows.is_array()) {
    *error = "no rows in the answer";
    return false;
  }
  for (const json& row : rows) {
    if (!row.is_object() || !row.contains("id") || !row["id"].is_string()) {
      *error = "row without a string id: " + row.dump();
      return false;
    }
    Doc d;
    json attributes = json::object();
    for (const auto& [k, v] : row.items()) {
      if (k == "id" || k == "dist" || k == "$dist") continue;
      if (k == "vector") {
        for (const json& x : v) d.vector.push_back(static_cast<float>(x.get<double>()));
      } else {
        attributes[k] = v;
      }
    }
    d.attributes = attributes.dump();
    if (!docs->emplace(row["id"].get<std::string>(), std::move(d)).second) {
      *error = "id returned twice: " + row["id"].get<std::string>();
      return false;
    }
  }
  return true;
}

struct HttpReply {
  int status = 0;
  std::string body;
};

HttpReply PostJson(httplib::Client& c, const std::string& path, const json& body) {
  httplib::Result res = c.Post(path, body.dump(), "application/json");
  HttpReply r;
  if (res) {
    r.status = res->status;
    r.body = res->body;
  } else {
    r.body = "no response: " + httplib::to_string(res.error());
  }
  return r;
}

json RowsJson(const std::vector<Op>& ops, OpKind kind) {
  json rows = json::array();
  for (const Op& op : ops) {
    if (op.kind != kind) continue;
    json row = json::parse(op.attributes);
    row["id"] = op.id;
    if (kind == OpKind::kUpsert) row["vector"] = op.vector;
    rows.push_back(row);
  }
  return rows;
}

// Sends one write; fills the record's times, status and reply.
void SendWrite(httplib::Client& c, WriteRecord* rec) {
  json body = {{"distance_metric", "euclidean_squared"}};
  json upserts = RowsJson(rec->ops, OpKind::kUpsert);
  json patches = RowsJson(rec->ops, OpKind::kPatch);
  json deletes = json::array();
  for (const Op& op : rec->ops) {
    if (op.kind == OpKind::kDelete) deletes.push_back(op.id);
  }
  if (!upserts.empty()) body["upsert_rows"] = upserts;
  if (!patches.empty()) body["patch_rows"] = patches;
  if (!deletes.empty()) body["deletes"] = deletes;
  rec->key = RequestKey(rec->ops);
  rec->send_ns = NowNs();
  HttpReply r = PostJson(c, "/namespaces/" + std::string(kNamespaces[rec->ns]), body);
  rec->ack_ns = NowNs();
  rec->status = r.status;
  rec->reply = r.body;
}

// One writer thread: kRequestsPerWriter requests against one process, each to a random one
// of the namespaces. Every request's upserts and patches carry its unique tag.
void RunWriter(int port, int process, int writer, uint64_t seed, Shared* shared,
               std::vector<WriteRecord>* out) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  std::mt19937_64 rng(seed);
  const std::string me = "p" + std::to_string(process) + "w" + std::to_string(writer);
  std::vector<std::string> alive[kNumNamespaces];  // my fresh ids: acked, not yet deleted
  int fresh_counter = 0;
  for (int i = 0; i < kRequestsPerWriter; ++i) {
    WriteRecord rec;
    rec.ns = static_cast<int>(rng() % kNumNamespaces);
    const std::string tag = me + "-" + std::to_string(i);
    std::vector<Op> upserts, patches, deletes;
    std::set<std::string> used;  // an id at most once per request
    std::vector<std::string> new_fresh;
    auto shared_id = [&] { return "s" + std::to_string(rng() % kSharedIds); };
    auto upsert = [&](const std::string& id) {
      if (!used.insert(id).second) return;
      upserts.push_back({OpKind::kUpsert, id, RandomVector(rng), json{{"u", tag}}.dump()});
    };
    auto patch = [&](const std::string& id) {
      if (!used.insert(id).second) return;
      patches.push_back({OpKind::kPatch, id, {}, json{{"p", tag}}.dump()});
    };
    auto fresh = [&] {
      std::string id = "f-" + me + "-" + std::to_string(fresh_counter++);
      new_fresh.push_back(id);
      upsert(id);
    };
    std::vector<std::string>& mine = alive[rec.ns];
    // Takes one of my live fresh ids out of `mine`: it is deleted by this request and never
    // written again, whatever the request's outcome.
    auto take_mine = [&] {
      size_t k = rng() % mine.size();
      std::string id = mine[k];
      mine.erase(mine.begin() + static_cast<std::ptrdiff_t>(k));
      return id;
    };
    switch (rng() % 10) {
      case 0:
      case 1:
        upsert(shared_id());
        if (rng() % 2) upsert(shared_id());
        break;
      case 2:
      case 3:
        patch(shared_id());
        if (rng() % 2) patch(shared_id());
        break;
      case 4:
      case 5:
        fresh();
        patch(shared_id());
        break;
      case 6:
        fresh();
        break;
      case 7:
        if (mine.empty()) {
          fresh();
          break;
        }
        deletes.push_back({OpKind::kDelete, take_mine(), {}, ""});
        if (!mine.empty()) {
          patch(mine[rng() % mine.size()]);
        } else {
          patch(shared_id());
        }
        break;
      case 8:
        if (mine.empty()) {
          fresh();
          break;
        }
        deletes.push_back({OpKind::kDelete, take_mine(), {}, ""});
        break;
      default:
        if (mine.empty()) {
          fresh();
        } else {
          patch(mine[rng() % mine.size()]);
        }
        upsert(shared_id());
        break;
    }
    for (auto* part : {&upserts, &patches, &deletes}) {
      rec.ops.insert(rec.ops.end(), part->begin(), part->end());
    }
    if (RawRequestBytes(rec.ops) >= kMaxUncompressedRequestBytes) {
      ADD_FAILURE() << "test design: request " << tag << " would be compressed in the WAL";
    }
    SendWrite(c, &rec);
    if (rec.status == 200) {
      mine.insert(mine.end(), new_fresh.begin(), new_fresh.end());
      std::lock_guard<std::mutex> lock(shared->mu);
      auto& reg = shared->acked_fresh[rec.ns];
      reg.insert(reg.end(), new_fresh.begin(), new_fresh.end());
    }
    out->push_back(std::move(rec));
  }
}

// One query thread: strong queries against one process until `stop` (or the cap).
void RunQueries(int port, int process, uint64_t seed, Shared* shared, const std::atomic<bool>* stop,
                std::vector<QueryRecord>* out) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  std::mt19937_64 rng(seed);
  for (int i = 0; i < kMaxQueriesPerThread && !stop->load(); ++i) {
    QueryRecord q;
    q.ns = static_cast<int>(rng() % kNumNamespaces);
    q.process = process;
    q.kind = static_cast<QueryKind>(rng() % kQueryKinds);
    const std::vector<float> v = RandomVector(rng);
    const std::string ns = kNamespaces[q.ns];
    std::string path;
    json body;
    if (q.kind == kFilteredIds) {
      std::set<std::string> ids = {"s" + std::to_string(rng() % kSharedIds)};
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        const auto& reg = shared->acked_fresh[q.ns];
        // Mostly the latest acknowledged ids (read-your-writes), some older ones (deleted).
        for (size_t k = 0; k < 4 && k < reg.size(); ++k) ids.insert(reg[reg.size() - 1 - k]);
        for (int k = 0; k < 3 && !reg.empty(); ++k) ids.insert(reg[rng() % reg.size()]);
      }
      q.ids.assign(ids.begin(), ids.end());
      path = "/v2/namespaces/" + ns + "/query";
      body = {{"rank_by", {"vector", "ANN", v}},
              {"top_k", q.ids.size()},
              {"filters", {"id", "In", q.ids}},
              {"include_attributes", true}};
    } else {
      path = "/namespaces/" + ns + "/query";
      body = {{"query_vector", v},
              {"top_k", kTopK},
              {"exact", q.kind == kExactAll},
              {"include_vectors", true},
              {"include_attributes", true}};
    }
    q.send_ns = NowNs();
    HttpReply r = PostJson(c, path, body);
    q.ack_ns = NowNs();
    q.status = r.status;
    if (r.status != 200) {
      q.error = r.body;
    } else {
      json reply = json::parse(r.body, nullptr, false);
      const char* member = q.kind == kFilteredIds ? "rows" : "results";
      if (!reply.is_object() || !ParseRows(reply[member], &q.docs, &q.error)) {
        q.status = -1;  // answered 200 with a body that is not a query answer
        if (q.error.empty()) q.error = "unparsable answer: " + r.body.substr(0, 200);
      }
    }
    out->push_back(std::move(q));
  }
}

// ---------------------------------------------------------------------------------------
// The WAL, decoded per docs/wal_format.md (version 1 entries, uncompressed bodies).

struct DecodedEntry {
  uint64_t seq = 0;
  std::vector<std::vector<Op>> requests;
};

std::string DecodeEntry(const std::string& object, uint64_t seq, DecodedEntry* out) {
  if (object.size() < 48) return "shorter than the header";
  if (DecodeFixed32(object.data()) != 0x4C575056) return "bad magic";
  const uint16_t version = DecodeFixed16(object.data() + 4);
  if (version != 1) return "format version " + std::to_string(version) + " (expected 1)";
  if (DecodeFixed64(object.data() + 8) != seq) return "seq differs from its key";
  if (DecodeFixed64(object.data() + 24) != object.size() - 48) return "bad payload size";
  std::string zeroed = object;
  std::memset(zeroed.data() + 32, 0, 8);
  if (Checksum64(zeroed) != DecodeFixed64(object.data() + 32)) return "checksum mismatch";
  const std::string_view payload = std::string_view(object).substr(48);
  if (payload.size() < 9) return "payload too short";
  if (payload[0] != 0) {
    return "compressed body (this test decodes uncompressed bodies only; its requests are "
           "kept small enough to be stored uncompressed)";
  }
  if (DecodeFixed64(payload.data() + 1) != payload.size() - 9) return "bad body size";
  Decoder d(payload.substr(9));
  out->seq = seq;
  uint32_t requests = 0;
  if (!d.ReadU32(&requests, "request count").ok()) return "truncated";
  for (uint32_t r = 0; r < requests; ++r) {
    uint32_t ops = 0;
    if (!d.ReadU32(&ops, "op count").ok()) return "truncated";
    std::vector<Op> request;
    for (uint32_t o = 0; o < ops; ++o) {
      uint8_t type = 0, id_type = 0;
      std::string_view id;
      if (!d.ReadU8(&type, "type").ok() || !d.ReadU8(&id_type, "id type").ok() ||
          !d.ReadLengthPrefixed(&id, "id").ok()) {
        return "truncated op";
      }
      if (type < 1 || type > 3) return "unexpected op type " + std::to_string(type);
      if (id_type != 1) return "unexpected id type";
      Op op;
      op.kind = static_cast<OpKind>(type);
      op.id.assign(id);
      if (op.kind == OpKind::kUpsert) {
        uint32_t dims = 0;
        std::string_view raw;
        if (!d.ReadU32(&dims, "dims").ok() || !d.ReadBytes(size_t{dims} * 4, &raw, "v").ok()) {
          return "truncated vector";
        }
        for (uint32_t i = 0; i < dims; ++i) {
          uint32_t bits = DecodeFixed32(raw.data() + 4 * i);
          float f;
          std::memcpy(&f, &bits, 4);
          op.vector.push_back(f);
        }
      }
      if (op.kind != OpKind::kDelete) {
        std::string_view text;
        if (!d.ReadLengthPrefixed(&text, "attributes").ok()) return "truncated attributes";
        json a = json::parse(text, nullptr, false);
        if (!a.is_object()) return "attributes are not a JSON object";
        op.attributes = a.dump();
      }
      request.push_back(std::move(op));
    }
    out->requests.push_back(std::move(request));
  }
  if (!d.done()) return "trailing bytes";
  return "";
}

// Every WAL entry of `ns`, in order; false (and a test failure) if the log cannot be read,
// has a gap or a bad entry.
bool ReadWal(ObjectStore* store, const std::string& ns, std::vector<DecodedEntry>* out) {
  std::vector<DecodedEntry>& entries = *out;
  const std::string prefix = "namespaces/" + ns + "/wal/";
  auto listed = ListAll(store, prefix);
  if (!listed.ok()) {
    ADD_FAILURE() << "listing " << prefix << ": " << listed.status().ToString();
    return false;
  }
  uint64_t expected_seq = 1;
  for (const ObjectMeta& meta : *listed) {
    const uint64_t seq = std::stoull(meta.key.substr(prefix.size()));
    if (seq != expected_seq) {
      ADD_FAILURE() << ns << ": WAL gap: found seq " << seq << ", expected " << expected_seq;
      return false;
    }
    ++expected_seq;
    auto got = store->Get(meta.key);
    if (!got.ok()) {
      ADD_FAILURE() << "reading " << meta.key << ": " << got.status().ToString();
      return false;
    }
    DecodedEntry e;
    const std::string error = DecodeEntry(got->data, seq, &e);
    if (!error.empty()) {
      ADD_FAILURE() << meta.key << ": " << error;
      return false;
    }
    entries.push_back(std::move(e));
  }
  return true;
}

// Applies one op to `state` (docs/wal_format.md: an upsert replaces the document, a patch
// replaces the named top-level attributes of an existing one, a delete removes it).
void ApplyOp(const Op& op, std::map<std::string, Doc>* state) {
  switch (op.kind) {
    case OpKind::kUpsert:
      (*state)[op.id] = Doc{op.vector, op.attributes};
      break;
    case OpKind::kPatch: {
      auto it = state->find(op.id);
      if (it == state->end()) break;
      json a = json::parse(it->second.attributes);
      a.update(json::parse(op.attributes));
      it->second.attributes = a.dump();
      break;
    }
    case OpKind::kDelete:
      state->erase(op.id);
      break;
  }
}

// The replayed history of one namespace.
struct History {
  uint64_t last_seq = 0;
  std::map<std::string, Doc> final_state;
  // Per document, its states in log order: (seq of the entry that produced it, state after
  // that entry); before the first, the document is absent.
  std::map<std::string, std::vector<std::pair<uint64_t, std::optional<Doc>>>> versions;
};

History Replay(const std::vector<DecodedEntry>& entries) {
  History h;
  for (const DecodedEntry& e : entries) {
    std::set<std::string> touched;
    for (const auto& request : e.requests) {
      for (const Op& op : request) {
        ApplyOp(op, &h.final_state);
        touched.insert(op.id);
      }
    }
    // A query sees whole entries (an entry is applied at once), so states between the
    // requests of one entry are not states of the log.
    for (const std::string& id : touched) {
      auto it = h.final_state.find(id);
      std::optional<Doc> now;
      if (it != h.final_state.end()) now = it->second;
      auto& v = h.versions[id];
      const std::optional<Doc> before = v.empty() ? std::nullopt : v.back().second;
      if (now != before) v.emplace_back(e.seq, now);
    }
    h.last_seq = e.seq;
  }
  return h;
}

// Compares a query answer with the expected documents; returns the first differences.
std::string Diff(const std::map<std::string, Doc>& got, const std::map<std::string, Doc>& want) {
  std::string out;
  int n = 0;
  for (const auto& [id, d] : want) {
    auto it = got.find(id);
    if (it == got.end()) {
      if (n++ < 5) out += "  missing " + id + " " + Describe(d) + "\n";
    } else if (!(it->second == d)) {
      if (n++ < 5)
        out += "  " + id + ": got " + Describe(it->second) + ", want " + Describe(d) + "\n";
    }
  }
  for (const auto& [id, d] : got) {
    if (!want.count(id) && n++ < 5) out += "  unexpected " + id + " " + Describe(d) + "\n";
  }
  if (n > 5) out += "  ... " + std::to_string(n) + " differences in all\n";
  return out;
}

class MultiProcessTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "s3") {
      endpoint_ = S3TestEndpoint();
      ASSERT_FALSE(endpoint_.empty())
          << "VECPUFF_TEST_S3_ENDPOINT is not set: run the tests under scripts/with_moto.sh "
             "(make test does)";
      bucket_ = UniqueBucketName();
      ASSERT_TRUE(CreateBucket(endpoint_, bucket_)) << "cannot create bucket on " << endpoint_;
    }
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const std::string& log : server_logs_) {
        std::cerr << "---- server log " << log << " ----\n" << ReadWholeFile(log);
      }
    }
  }
  // Process i: compactor on and aggressive, each with its own cache settings (disk and
  // memory, memory only, none), so that posting reads take every path.
  std::unique_ptr<ServerProcess> NewServer(int i) {
    const char* const caches[kProcesses] = {"size_bytes = 104857600\nmemory_bytes = 16777216\n",
                                            "size_bytes = 0\nmemory_bytes = 16777216\n",
                                            "size_bytes = 0\nmemory_bytes = 0\n"};
    const std::string config =
        "[log]\nlevel = \"warn\"\n[batching]\nwindow_ms = " + std::to_string(1 + i % 2) +
        "\n[indexing]\nmax_age_ms = 1\n[compactor]\nenabled = true\n"
        "interval_ms = " +
        std::to_string(20 + 15 * i) + "\ngc_grace_period_ms = 0\n[cache]\npath = \"" + dir_.path() +
        "/cache-" + std::to_string(i) + "\"\n" + caches[i];
    std::vector<std::string> env;
    if (GetParam() == "s3") env = S3Env(endpoint_, bucket_);
    auto s = std::make_unique<ServerProcess>(dir_.path() + "/store", dir_.path(), config, env);
    server_logs_.push_back(s->log_path());
    return s;
  }
  std::unique_ptr<ObjectStore> OpenStore() {
    Result<std::unique_ptr<ObjectStore>> store = Status::Internal("unset");
    if (GetParam() == "s3") {
      S3StoreOptions o;
      o.endpoint = endpoint_;
      o.bucket = bucket_;
      o.credentials.access_key_id = "testing";
      o.credentials.secret_access_key = "testing";
      store = OpenS3Store(o);
    } else {
      store = OpenLocalStore(dir_.path() + "/store");
    }
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(*store) : nullptr;
  }
  ScratchDir dir_;
  std::string endpoint_, bucket_;
  std::vector<std::string> server_logs_;
};

// Queries every document of a namespace through process `port` (strong consistency).
std::map<std::string, Doc> AllDocs(int port, const std::string& ns, bool exact) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(120, 0);
  HttpReply r = PostJson(c, "/namespaces/" + ns + "/query",
                         {{"query_vector", std::vector<float>(kDims, 0.25f)},
                          {"top_k", kTopK},
                          {"exact", exact},
                          {"include_vectors", true},
                          {"include_attributes", true}});
  std::map<std::string, Doc> docs;
  std::string error;
  json reply = json::parse(r.body, nullptr, false);
  if (r.status != 200 || !reply.is_object() || !ParseRows(reply["results"], &docs, &error)) {
    ADD_FAILURE() << "final query of " << ns << " on port " << port << ": " << r.status << " "
                  << r.body.substr(0, 300) << " " << error;
  }
  return docs;
}

json Metadata(int port, const std::string& ns) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(60, 0);
  httplib::Result res = c.Get("/namespaces/" + ns + "/metadata");
  if (!res || res->status != 200) return json();
  return json::parse(res->body, nullptr, false);
}

TEST_P(MultiProcessTest, ThreeProcessesWithCompactorsStayConsistent) {
  std::vector<std::unique_ptr<ServerProcess>> servers;
  for (int i = 0; i < kProcesses; ++i) {
    servers.push_back(NewServer(i));
    ASSERT_TRUE(servers.back()->Start()) << servers.back()->Log();
  }
  const uint64_t seed = std::random_device{}();
  std::printf("[multi-process %s] seed %llu\n", GetParam().c_str(),
              static_cast<unsigned long long>(seed));

  // One write per namespace first, so that no query meets a namespace that does not exist.
  std::vector<std::vector<WriteRecord>> writes(kProcesses * kWritersPerProcess + 1);
  {
    httplib::Client c("127.0.0.1", servers[0]->port());
    c.set_read_timeout(120, 0);
    for (int ns = 0; ns < kNumNamespaces; ++ns) {
      WriteRecord rec;
      rec.ns = ns;
      rec.ops.push_back({OpKind::kUpsert, "s0", std::vector<float>(kDims, 0.5f),
                         json{{"u", "setup-" + std::to_string(ns)}}.dump()});
      SendWrite(c, &rec);
      ASSERT_EQ(rec.status, 200) << rec.reply;
      writes.back().push_back(std::move(rec));
    }
  }

  Shared shared;
  std::atomic<bool> stop{false};
  std::vector<std::vector<QueryRecord>> queries(kProcesses * kQueryThreadsPerProcess);
  std::vector<std::thread> writer_threads, query_threads;
  for (int p = 0; p < kProcesses; ++p) {
    for (int w = 0; w < kWritersPerProcess; ++w) {
      const int slot = p * kWritersPerProcess + w;
      writer_threads.emplace_back(RunWriter, servers[p]->port(), p, w, seed + 1000 + slot, &shared,
                                  &writes[slot]);
    }
    for (int t = 0; t < kQueryThreadsPerProcess; ++t) {
      const int slot = p * kQueryThreadsPerProcess + t;
      query_threads.emplace_back(RunQueries, servers[p]->port(), p, seed + 2000 + slot, &shared,
                                 &stop, &queries[slot]);
    }
  }
  for (auto& t : writer_threads) t.join();
  stop = true;
  for (auto& t : query_threads) t.join();

  // Every write request, by namespace and key.
  std::vector<WriteRecord*> records[kNumNamespaces];
  std::map<std::string, WriteRecord*> by_key[kNumNamespaces];
  size_t acked = 0, failed = 0;
  for (auto& list : writes) {
    for (WriteRecord& rec : list) {
      records[rec.ns].push_back(&rec);
      EXPECT_TRUE(by_key[rec.ns].emplace(rec.key, &rec).second) << "duplicate key " << rec.key;
      if (rec.status == 200) {
        ++acked;
      } else {
        ++failed;
        ADD_FAILURE() << "write " << rec.key << " failed: " << rec.status << " " << rec.reply;
      }
    }
  }

  // Final state through every process, right away (indexes still catching up).
  std::map<std::string, Doc> early[kProcesses][kNumNamespaces][2];
  for (int p = 0; p < kProcesses; ++p) {
    for (int ns = 0; ns < kNumNamespaces; ++ns) {
      for (int exact = 0; exact < 2; ++exact) {
        early[p][ns][exact] = AllDocs(servers[p]->port(), kNamespaces[ns], exact == 1);
      }
    }
  }

  std::unique_ptr<ObjectStore> store = OpenStore();
  ASSERT_NE(store, nullptr);
  size_t wal_entries = 0, wal_requests = 0, rt_pairs_checked = 0, rt_violations = 0;
  size_t query_checks = 0, snapshot_violations = 0, deleted_seen = 0, missing_acked = 0;
  size_t stale_reads = 0, queries_run = 0, query_failures = 0;
  size_t per_kind[kQueryKinds] = {0, 0, 0};
  History history[kNumNamespaces];
  for (int ns = 0; ns < kNumNamespaces; ++ns) {
    const std::string name = kNamespaces[ns];
    std::vector<DecodedEntry> entries;
    ASSERT_TRUE(ReadWal(store.get(), name, &entries)) << "cannot read the WAL of " << name;
    wal_entries += entries.size();

    // 1. The WAL holds every acknowledged request exactly once, as sent, and nothing else.
    for (const DecodedEntry& e : entries) {
      for (size_t i = 0; i < e.requests.size(); ++i) {
        ++wal_requests;
        const std::string key = RequestKey(e.requests[i]);
        auto it = by_key[ns].find(key);
        if (it == by_key[ns].end()) {
          ADD_FAILURE() << name << " seq " << e.seq << ": a request no client sent: " << key;
          continue;
        }
        WriteRecord* rec = it->second;
        EXPECT_EQ(rec->seq, 0u) << name << ": request " << key << " is in the WAL twice (seq "
                                << rec->seq << " and " << e.seq << ")";
        EXPECT_TRUE(rec->ops == e.requests[i])
            << name << " seq " << e.seq << ": request " << key << " differs from what was sent";
        rec->seq = e.seq;
        rec->index = i;
      }
    }
    for (WriteRecord* rec : records[ns]) {
      if (rec->status == 200) {
        EXPECT_NE(rec->seq, 0u) << name << ": acknowledged request " << rec->key
                                << " is not in the WAL";
      }
    }

    // 2. Real time: a request acknowledged before another was sent precedes it in the log.
    std::vector<WriteRecord*> in_log;
    for (WriteRecord* rec : records[ns]) {
      if (rec->seq != 0) in_log.push_back(rec);
    }
    std::sort(in_log.begin(), in_log.end(), [](const WriteRecord* a, const WriteRecord* b) {
      return std::make_pair(a->seq, a->index) < std::make_pair(b->seq, b->index);
    });
    {
      int64_t min_later_ack = INT64_MAX;
      const WriteRecord* min_later = nullptr;
      for (size_t i = in_log.size(); i-- > 0;) {
        const WriteRecord* b = in_log[i];
        rt_pairs_checked += in_log.size() - 1 - i;
        if (min_later_ack < b->send_ns) {
          ++rt_violations;
          ADD_FAILURE() << name << ": " << min_later->key << " (seq " << min_later->seq
                        << ") was acknowledged before " << b->key << " (seq " << b->seq
                        << ") was sent, yet follows it in the WAL";
        }
        if (b->status == 200 && b->ack_ns < min_later_ack) {
          min_later_ack = b->ack_ns;
          min_later = b;
        }
      }
    }

    // 3. Every process returns the replayed final state, exactly and through the index.
    history[ns] = Replay(entries);
    const History& h = history[ns];
    for (int p = 0; p < kProcesses; ++p) {
      for (int exact = 0; exact < 2; ++exact) {
        const std::string diff = Diff(early[p][ns][exact], h.final_state);
        EXPECT_TRUE(diff.empty()) << name << " on process " << p << (exact ? " (exact)" : " (ann)")
                                  << " right after the writes differs from the WAL replay:\n"
                                  << diff;
      }
    }

    // 4. Queries: every one answered, each saw a state the log passed through.
    // Bounds on the log prefix a query may have seen: at least the entries of requests
    // acknowledged before it was sent; none of requests sent after it was answered.
    std::vector<std::pair<int64_t, uint64_t>> by_ack, by_send;  // (time, seq)
    for (WriteRecord* rec : in_log) {
      if (rec->status == 200) by_ack.emplace_back(rec->ack_ns, rec->seq);
      by_send.emplace_back(rec->send_ns, rec->seq);
    }
    std::sort(by_ack.begin(), by_ack.end());
    std::sort(by_send.begin(), by_send.end());
    for (size_t i = 1; i < by_ack.size(); ++i) {
      by_ack[i].second = std::max(by_ack[i].second, by_ack[i - 1].second);  // prefix max
    }
    for (size_t i = by_send.size(); i-- > 1;) {
      by_send[i - 1].second = std::min(by_send[i - 1].second, by_send[i].second);  // suffix min
    }
    // Fresh ids: when their upsert was acknowledged, when their delete was sent/acknowledged.
    struct FreshLife {
      int64_t upsert_ack = INT64_MAX, delete_send = INT64_MAX, delete_ack = INT64_MAX;
    };
    std::map<std::string, FreshLife> fresh;
    // Shared ids: the acknowledged writes of each, by acknowledgement time.
    std::map<std::string, std::vector<std::pair<int64_t, const WriteRecord*>>> shared_writes;
    // Shared ids: when their first upsert was acknowledged (a patch of an absent document is
    // a no-op, so only an upsert makes one exist).
    std::map<std::string, int64_t> shared_upserted;
    for (WriteRecord* rec : records[ns]) {
      for (const Op& op : rec->ops) {
        if (op.id[0] == 'f') {
          FreshLife& f = fresh[op.id];
          if (op.kind == OpKind::kUpsert && rec->status == 200) f.upsert_ack = rec->ack_ns;
          if (op.kind == OpKind::kDelete) {
            f.delete_send = rec->send_ns;
            if (rec->status == 200) f.delete_ack = rec->ack_ns;
          }
        } else if (rec->status == 200) {
          shared_writes[op.id].emplace_back(rec->ack_ns, rec);
          if (op.kind == OpKind::kUpsert) {
            auto [it, first] = shared_upserted.emplace(op.id, rec->ack_ns);
            if (!first) it->second = std::min(it->second, rec->ack_ns);
          }
        }
      }
    }
    for (auto& [id, list] : shared_writes) {
      std::sort(list.begin(), list.end(),
                [](const auto& x, const auto& y) { return x.first < y.first; });
    }

    for (const auto& list : queries) {
      for (const QueryRecord& q : list) {
        if (q.ns != ns) continue;
        ++queries_run;
        ++per_kind[q.kind];
        if (q.status != 200) {
          ++query_failures;
          ADD_FAILURE() << name << ": " << kQueryKindNames[q.kind] << " query on process "
                        << q.process << " failed: " << q.status << " " << q.error.substr(0, 300);
          continue;
        }
        std::vector<std::string> universe = q.ids;
        if (q.kind != kFilteredIds) {
          for (const auto& [id, v] : h.versions) universe.push_back(id);
        }
        uint64_t lo = 0, hi = h.last_seq;
        auto a =
            std::lower_bound(by_ack.begin(), by_ack.end(), std::make_pair(q.send_ns, uint64_t{0}));
        if (a != by_ack.begin()) lo = std::prev(a)->second;
        auto s =
            std::upper_bound(by_send.begin(), by_send.end(), std::make_pair(q.ack_ns, UINT64_MAX));
        if (s != by_send.end()) hi = std::min(hi, s->second - 1);
        std::string why;
        auto note = [&](const std::string& m) {
          if (why.size() < 2000) why += "  " + m + "\n";
        };
        // Returned documents: each must be a state of the log; it narrows [lo, hi].
        std::vector<std::pair<uint64_t, uint64_t>> excluded;  // [from, to] where absent is wrong
        for (const std::string& id : universe) {
          ++query_checks;
          auto got = q.docs.find(id);
          auto vit = h.versions.find(id);
          static const std::vector<std::pair<uint64_t, std::optional<Doc>>> kNever;
          const auto& versions = vit == h.versions.end() ? kNever : vit->second;
          if (got != q.docs.end()) {
            bool found = false;
            for (size_t i = 0; i < versions.size(); ++i) {
              if (versions[i].second && *versions[i].second == got->second) {
                found = true;
                const uint64_t until =
                    i + 1 < versions.size() ? versions[i + 1].first - 1 : UINT64_MAX;
                if (versions[i].first > lo) lo = versions[i].first;
                if (until < hi) hi = until;
                break;
              }
            }
            if (!found) note(id + " has a value no WAL prefix gives: " + Describe(got->second));
          } else {
            for (size_t i = 0; i < versions.size(); ++i) {
              if (!versions[i].second) continue;
              const uint64_t until =
                  i + 1 < versions.size() ? versions[i + 1].first - 1 : UINT64_MAX;
              excluded.emplace_back(versions[i].first, until);
            }
          }
          // The two rules stated plainly (the prefix rule implies them).
          if (id[0] == 'f') {
            const FreshLife& f = fresh[id];
            if (got != q.docs.end() && f.delete_ack < q.send_ns) {
              ++deleted_seen;
              note(id + " returned although its delete was acknowledged before the query");
            }
            if (got == q.docs.end() && f.upsert_ack < q.send_ns && f.delete_send > q.ack_ns) {
              ++missing_acked;
              note(id + " missing although its upsert was acknowledged before the query");
            }
          } else {
            const auto& sw = shared_writes[id];
            // The writes of `id` acknowledged before the query was sent: [begin, last).
            auto last = std::partition_point(sw.begin(), sw.end(),
                                             [&](const auto& w) { return w.first < q.send_ns; });
            auto up = shared_upserted.find(id);
            if (up != shared_upserted.end() && up->second < q.send_ns && got == q.docs.end()) {
              ++missing_acked;
              note(id + " missing although upserted (acknowledged) before the query");
            }
            if (last != sw.begin() && got != q.docs.end()) {
              // The value must come from that write or a later one in the log.
              uint64_t newest = 0;
              for (auto w = sw.begin(); w != last; ++w) newest = std::max(newest, w->second->seq);
              bool fresh_enough = false;
              for (const auto& [vseq, v] : versions) {
                if (v && *v == got->second) fresh_enough = vseq >= newest;
              }
              if (!fresh_enough) {
                ++stale_reads;
                note(id + " is older than a write acknowledged before the query (seq " +
                     std::to_string(newest) + ")");
              }
            }
          }
        }
        for (const auto& [id, d] : q.docs) {
          if (std::find(universe.begin(), universe.end(), id) == universe.end()) {
            note("returned " + id + ", which the query did not ask for or the log never had");
            lo = hi + 1;
          }
        }
        // Is some prefix in [lo, hi] outside every excluded range?
        std::sort(excluded.begin(), excluded.end());
        std::optional<uint64_t> prefix;
        if (lo <= hi) {
          uint64_t candidate = lo;
          for (const auto& [from, to] : excluded) {
            if (from > candidate) break;
            if (to >= candidate) {
              if (to == UINT64_MAX) {
                candidate = UINT64_MAX;
                break;
              }
              candidate = to + 1;
            }
          }
          if (candidate <= hi) prefix = candidate;
        }
        if (!prefix || !why.empty()) {
          ++snapshot_violations;
          ADD_FAILURE() << name << ": " << kQueryKindNames[q.kind] << " query on process "
                        << q.process << " (" << q.docs.size()
                        << " rows) matches no state of the log between the entries acknowledged "
                           "before it and those sent after it (seq bounds after narrowing "
                        << lo << ".." << hi << "):\n"
                        << why;
        }
      }
    }
  }

  // 5. The indexes catch up on every process, and then agree with the log too.
  size_t polls = 0;
  for (int p = 0; p < kProcesses; ++p) {
    for (int ns = 0; ns < kNumNamespaces; ++ns) {
      json md;
      // Bounded: the compactors run every 20-50 ms with max_age_ms = 1; 120 s is far more
      // than they need even under ASan on a loaded machine.
      for (int i = 0; i < 1200; ++i, ++polls) {
        md = Metadata(servers[p]->port(), kNamespaces[ns]);
        if (md.is_object() && md["index"]["status"] == "up_to_date") break;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      const size_t want = history[ns].final_state.size();
      if (!md.is_object() || md["index"]["status"] != "up_to_date") {
        ADD_FAILURE() << kNamespaces[ns] << " on process " << p
                      << " never caught up: " << md.dump();
        continue;
      }
      EXPECT_EQ(md["index"]["indexed_row_count"], want) << kNamespaces[ns] << " on process " << p;
      EXPECT_EQ(md["approx_row_count"], want) << kNamespaces[ns] << " on process " << p;
      for (int exact = 0; exact < 2; ++exact) {
        const std::string diff =
            Diff(AllDocs(servers[p]->port(), kNamespaces[ns], exact == 1), history[ns].final_state);
        EXPECT_TRUE(diff.empty()) << kNamespaces[ns] << " on process " << p
                                  << (exact ? " (exact)" : " (ann)")
                                  << " after indexing differs from the WAL replay:\n"
                                  << diff;
      }
    }
  }

  std::printf(
      "[multi-process %s] writes: %zu acked, %zu failed; WAL: %zu entries, %zu requests; "
      "real-time pairs checked %zu, violations %zu\n",
      GetParam().c_str(), acked, failed, wal_entries, wal_requests, rt_pairs_checked,
      rt_violations);
  std::printf(
      "[multi-process %s] queries: %zu (%zu exact, %zu ann, %zu filtered), %zu failed; "
      "document checks %zu; snapshot violations %zu, deleted docs seen %zu, acked docs missing "
      "%zu, stale values %zu; final docs %zu + %zu; metadata polls %zu\n",
      GetParam().c_str(), queries_run, per_kind[0], per_kind[1], per_kind[2], query_failures,
      query_checks, snapshot_violations, deleted_seen, missing_acked, stale_reads,
      history[0].final_state.size(), history[1].final_state.size(), polls);
  EXPECT_GT(queries_run, 0u);
  EXPECT_EQ(acked, static_cast<size_t>(kProcesses * kWritersPerProcess * kRequestsPerWriter +
                                       kNumNamespaces));
}

INSTANTIATE_TEST_SUITE_P(Backends, MultiProcessTest, ::testing::Values("local", "s3"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace vecpuff::testing
