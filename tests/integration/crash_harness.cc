// vecpuff_crash_harness: writers against a real vecpuff server that is SIGKILLed at random
// moments, cycle after cycle; after every restart the namespace is read back and checked
// against what the writers were told.
//
// Payloads. Request number R (unique, from 1) touches 2..6 distinct ids of a bounded id
// space ("d0".."d<ids-1>"), each once: the first as an upsert, the rest as upserts, patches
// or deletes. Everything a request writes is derived from (seed, R, id), so a document read
// back says which request wrote it and whether the bytes are right:
//   upsert: vector VecOf(R, id), attributes u = R, p = R, c = ChkOf(R, id)
//   patch:  attribute p = R (a patch of a missing document is ignored by the server)
//   delete: the id
//
// What is legal. Requests are ordered by a logical clock: s(R) ticks when R is sent, c(R)
// when its answer arrives (for a request that got no answer: when the server that had it
// was killed, or never if it was not). c(A) < s(B) means A's commit, if any, precedes B's.
// A request is "known applied" if it was acknowledged or if any document shows it (u or p).
// For a document whose last applied request (in commit order) is L, every known-applied
// request A touching it must be able to precede L: c(L) < s(A) is a violation. A present
// document (u = U, p = P) has L = P, and nothing known applied that replaces or deletes it
// may lie necessarily between U and P. An absent document needs a delete D that may follow
// every known-applied upsert of it (c(D) >= s(U)), unless no upsert of it is known applied.
// A violation caused by an acknowledged request is "lost"; one caused by an unacknowledged
// request that another document shows applied is "partial" (half a request visible);
// bytes that match no request are "corrupt".
//
// Modes: server (kill the server), compactor (writers use a server without a compactor; a
// second process on the same store compacts and is killed), cache (as server, and between
// cycles the disk cache directory is deleted or its files truncated or bit-flipped).
#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <filesystem>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "server_process.h"

namespace vecpuff::testing {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr int kDims = 8;
constexpr uint64_t kNever = std::numeric_limits<uint64_t>::max();
constexpr const char* kNamespace = "crash";

struct Flags {
  int cycles = 20;
  int writers = 4;
  uint64_t seed = 0;  // 0: pick one
  std::string backend = "local";
  std::string mode = "server";
  double max_seconds = 0;  // 0: no limit
  int ids = 256;
  int min_kill_ms = 20;
  int max_kill_ms = 400;
  bool keep = false;  // keep the scratch directory even on success
  // Also stop the writers before each kill and check the live server (tells bugs of
  // recovery from bugs of the running server; the kill then lands on a quiet server).
  bool verify_before_kill = false;
};

void Usage() {
  std::fprintf(stderr,
               "usage: vecpuff_crash_harness [--mode server|compactor|cache] [--backend local|s3]\n"
               "  [--cycles N] [--writers N] [--seed N] [--max-seconds S] [--ids N]\n"
               "  [--min-kill-ms N] [--max-kill-ms N] [--keep] [--verify-before-kill]\n"
               "The s3 backend uses the S3 test server at VECPUFF_TEST_S3_ENDPOINT\n"
               "(run under scripts/with_moto.sh).\n");
}

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    std::string v;
    const size_t eq = a.find('=');
    if (eq != std::string::npos) {
      v = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "--keep" && a != "--verify-before-kill" && a != "--help" && i + 1 < argc) {
      v = argv[++i];
    }
    try {
      if (a == "--cycles") {
        f->cycles = std::stoi(v);
      } else if (a == "--writers") {
        f->writers = std::stoi(v);
      } else if (a == "--seed") {
        f->seed = std::stoull(v);
      } else if (a == "--backend") {
        f->backend = v;
      } else if (a == "--mode") {
        f->mode = v;
      } else if (a == "--max-seconds") {
        f->max_seconds = std::stod(v);
      } else if (a == "--ids") {
        f->ids = std::stoi(v);
      } else if (a == "--min-kill-ms") {
        f->min_kill_ms = std::stoi(v);
      } else if (a == "--max-kill-ms") {
        f->max_kill_ms = std::stoi(v);
      } else if (a == "--keep") {
        f->keep = true;
      } else if (a == "--verify-before-kill") {
        f->verify_before_kill = true;
      } else {
        return false;
      }
    } catch (...) {
      return false;
    }
  }
  return f->cycles >= 1 && f->writers >= 1 && f->writers <= 64 && f->ids >= 8 && f->ids <= 5000 &&
         f->min_kill_ms >= 0 && f->max_kill_ms >= f->min_kill_ms &&
         (f->backend == "local" || f->backend == "s3") &&
         (f->mode == "server" || f->mode == "compactor" || f->mode == "cache");
}

// SplitMix64: the deterministic source of every payload.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t g_seed = 0;

uint64_t Hash3(uint64_t a, uint64_t b, uint64_t c) { return Mix(Mix(Mix(g_seed ^ a) ^ b) ^ c); }

// Components are multiples of 1/64 in [-15.6, 15.6]: exact as floats, so they read back equal.
std::vector<float> VecOf(uint64_t req, int id) {
  std::vector<float> v(kDims);
  for (int i = 0; i < kDims; ++i) {
    const uint64_t h = Hash3(req, static_cast<uint64_t>(id), 100 + static_cast<uint64_t>(i));
    v[i] = static_cast<float>(static_cast<int>(h % 2001) - 1000) / 64.0f;
  }
  return v;
}

int64_t ChkOf(uint64_t req, int id) {
  return static_cast<int64_t>(Hash3(req, static_cast<uint64_t>(id), 7) & 0x7fffffff);
}

enum class Op : uint8_t { kUpsert, kPatch, kDelete };

struct Request {
  uint64_t no = 0;
  int cycle = 0;
  std::vector<std::pair<int, Op>> ops;  // distinct ids
  uint64_t s = 0;                       // clock when sent
  uint64_t c = kNever;                  // clock when answered (or the server died)
  bool acked = false;
  bool answered = false;  // any HTTP answer
  bool unsent = false;    // the connection was refused: the server never saw it
};

std::vector<std::pair<int, Op>> OpsOf(uint64_t req, int ids) {
  const uint64_t h = Hash3(req, 0, 1);
  const int n = 2 + static_cast<int>(h % 5);
  std::vector<std::pair<int, Op>> ops;
  std::set<int> used;
  for (int k = 0; static_cast<int>(ops.size()) < n && k < 64; ++k) {
    const uint64_t r = Hash3(req, static_cast<uint64_t>(k), 2);
    const int id = static_cast<int>(r % static_cast<uint64_t>(ids));
    if (!used.insert(id).second) continue;
    const int pick = static_cast<int>((r >> 32) % 100);
    const Op op = ops.empty() || pick < 55 ? Op::kUpsert : pick < 80 ? Op::kPatch : Op::kDelete;
    ops.emplace_back(id, op);
  }
  return ops;
}

const char* OpName(Op op) {
  return op == Op::kUpsert ? "upserted" : op == Op::kPatch ? "patched" : "deleted";
}

std::string IdName(int id) { return "d" + std::to_string(id); }

std::string BodyOf(const Request& r) {
  json up = json::array(), patch = json::array(), del = json::array();
  for (const auto& [id, op] : r.ops) {
    switch (op) {
      case Op::kUpsert:
        up.push_back({{"id", IdName(id)},
                      {"vector", VecOf(r.no, id)},
                      {"u", r.no},
                      {"p", r.no},
                      {"c", ChkOf(r.no, id)}});
        break;
      case Op::kPatch:
        patch.push_back({{"id", IdName(id)}, {"p", r.no}});
        break;
      case Op::kDelete:
        del.push_back(IdName(id));
        break;
    }
  }
  json body = {{"distance_metric", "euclidean_squared"}};
  if (!up.empty()) body["upsert_rows"] = up;
  if (!patch.empty()) body["patch_rows"] = patch;
  if (!del.empty()) body["deletes"] = del;
  return body.dump();
}

// Everything the writers did, by request number (no - 1).
class Ledger {
 public:
  // Records a new request, sent now. The returned reference stays valid.
  Request& Begin(int cycle, int ids) {
    std::lock_guard lock(mu_);
    Request& r = requests_.emplace_back();
    r.no = requests_.size();
    r.cycle = cycle;
    r.ops = OpsOf(r.no, ids);
    r.s = ++clock_;
    return r;
  }
  uint64_t Tick() { return ++clock_; }
  // Only while no writer runs.
  std::deque<Request>& requests() { return requests_; }

 private:
  std::mutex mu_;
  std::atomic<uint64_t> clock_{0};
  std::deque<Request> requests_;
};

struct Doc {
  uint64_t u = 0, p = 0;
};

struct Verdict {
  uint64_t lost = 0, corrupt = 0, partial = 0, mismatch = 0, unreadable = 0;
  std::vector<std::string> notes;  // the first few problems, for the log
  void Note(uint64_t* counter, const std::string& what) {
    ++*counter;
    if (notes.size() < 20) notes.push_back(what);
  }
  bool ok() const { return lost + corrupt + partial + mismatch + unreadable == 0; }
  void Add(const Verdict& o) {
    lost += o.lost;
    corrupt += o.corrupt;
    partial += o.partial;
    mismatch += o.mismatch;
    unreadable += o.unreadable;
    for (const auto& n : o.notes) {
      if (notes.size() < 20) notes.push_back(n);
    }
  }
};

struct Reply {
  int status = -1;  // -1: no answer
  json body;
  std::string text;
};

Reply Send(int port, const std::string& method, const std::string& path,
           const std::string& body = "") {
  httplib::Client c("127.0.0.1", port);
  c.set_connection_timeout(2, 0);
  c.set_read_timeout(60, 0);
  c.set_write_timeout(60, 0);
  httplib::Result res = method == "GET" ? c.Get(path) : c.Post(path, body, "application/json");
  Reply r;
  if (!res) return r;
  r.status = res->status;
  r.text = res->body;
  r.body = json::parse(res->body, nullptr, false);
  return r;
}

// Reads every document (top_k above the id space) through the exact scan or the ANN index.
// nullopt (and a note) if the namespace cannot be read; an empty map if it does not exist.
std::optional<std::map<int, json>> ReadAll(int port, bool exact, const Flags& f,
                                           const std::string& who, Verdict* v) {
  json q = {
      {"query_vector", std::vector<float>(kDims, 0.0f)}, {"top_k", f.ids + 10}, {"exact", exact}};
  Reply r = Send(port, "POST", std::string("/namespaces/") + kNamespace + "/query", q.dump());
  if (r.status == 404) return std::map<int, json>{};
  if (r.status != 200 || !r.body.is_object() || !r.body.contains("results")) {
    v->Note(&v->unreadable, who + (exact ? " exact" : " ANN") + " query failed: " +
                                std::to_string(r.status) + " " + r.text.substr(0, 300));
    return std::nullopt;
  }
  std::map<int, json> docs;
  for (const json& row : r.body["results"]) {
    const std::string id = row.value("id", "");
    int n = -1;
    if (id.size() >= 2 && id[0] == 'd') {
      try {
        n = std::stoi(id.substr(1));
      } catch (...) {
      }
    }
    if (n < 0 || n >= f.ids) {
      v->Note(&v->corrupt, who + ": unknown id " + row.dump());
      continue;
    }
    if (!docs.emplace(n, row).second) v->Note(&v->corrupt, who + ": duplicate id " + id);
  }
  return docs;
}

// Checks one read of the namespace against the ledger (see the top of the file).
// REQUIRES: no writer runs.
void CheckAgainstLedger(const std::map<int, json>& rows, std::deque<Request>& reqs, const Flags& f,
                        const std::string& who, Verdict* v) {
  auto req_of = [&](const json& x) -> Request* {
    if (!x.is_number_unsigned() && !x.is_number_integer()) return nullptr;
    const int64_t n = x.get<int64_t>();
    if (n < 1 || static_cast<uint64_t>(n) > reqs.size()) return nullptr;
    return &reqs[static_cast<size_t>(n - 1)];
  };
  auto op_on = [](const Request& r, int id) -> std::optional<Op> {
    for (const auto& [i, op] : r.ops) {
      if (i == id) return op;
    }
    return std::nullopt;
  };

  // 1. Every visible document must be bytes some request wrote.
  std::map<int, Doc> docs;
  std::vector<bool> known(reqs.size() + 1, false);
  for (const Request& r : reqs) known[r.no] = r.acked;
  for (const auto& [id, row] : rows) {
    const std::string at = who + ": " + IdName(id) + " ";
    Request* u = row.contains("u") ? req_of(row["u"]) : nullptr;
    Request* p = row.contains("p") ? req_of(row["p"]) : nullptr;
    if (u == nullptr || p == nullptr || u->unsent || p->unsent) {
      v->Note(&v->corrupt, at + "names no request the server received: " + row.dump());
      continue;
    }
    if (op_on(*u, id) != Op::kUpsert) {
      v->Note(&v->corrupt, at + "u=" + std::to_string(u->no) + " did not upsert it");
      continue;
    }
    if (p != u && op_on(*p, id) != Op::kPatch) {
      v->Note(&v->corrupt, at + "p=" + std::to_string(p->no) + " did not patch it");
      continue;
    }
    std::vector<float> vec;
    bool vec_ok = row.contains("vector") && row["vector"].is_array();
    if (vec_ok) {
      for (const json& x : row["vector"]) {
        if (!x.is_number()) {
          vec_ok = false;
          break;
        }
        vec.push_back(static_cast<float>(x.get<double>()));
      }
    }
    if (!vec_ok || vec != VecOf(u->no, id)) {
      v->Note(&v->corrupt, at + "vector is not the one u=" + std::to_string(u->no) + " wrote");
      continue;
    }
    if (!row.contains("c") || !row["c"].is_number_integer() ||
        row["c"].get<int64_t>() != ChkOf(u->no, id)) {
      v->Note(&v->corrupt, at + "attribute c is not the one u=" + std::to_string(u->no) +
                               " wrote: " + row.dump());
      continue;
    }
    docs[id] = Doc{u->no, p->no};
    known[u->no] = true;
    known[p->no] = true;
  }

  // 2. The last visible request of each id must be legal given what is known applied.
  std::vector<std::vector<Request*>> touching(static_cast<size_t>(f.ids));
  for (Request& r : reqs) {
    if (r.unsent) continue;
    for (const auto& [id, op] : r.ops) touching[static_cast<size_t>(id)].push_back(&r);
  }
  auto blame = [&](const Request& a, const std::string& what) {
    if (a.acked) {
      v->Note(&v->lost, what + " (request " + std::to_string(a.no) + " was acknowledged)");
    } else {
      v->Note(&v->partial, what + " (request " + std::to_string(a.no) +
                               " was not acknowledged but is visible elsewhere)");
    }
  };
  for (int id = 0; id < f.ids; ++id) {
    const std::string at = who + ": " + IdName(id) + " ";
    const std::vector<Request*>& t = touching[static_cast<size_t>(id)];
    auto it = docs.find(id);
    if (it != docs.end()) {
      const Request& U = reqs[it->second.u - 1];
      const Request& P = reqs[it->second.p - 1];
      const Request& L = P;
      if (P.no != U.no && P.c < U.s) {
        v->Note(&v->corrupt, at + "shows patch " + std::to_string(P.no) + " over upsert " +
                                 std::to_string(U.no) + " that followed it");
        continue;
      }
      for (Request* a : t) {
        if (!known[a->no] || a->no == U.no || a->no == P.no) continue;
        if (L.c < a->s) {
          blame(*a, at + "shows request " + std::to_string(L.no) + " (u=" + std::to_string(U.no) +
                        ") though request " + std::to_string(a->no) + " " + OpName(*op_on(*a, id)) +
                        " it later");
          break;
        }
        const Op op = *op_on(*a, id);
        if (P.no != U.no && op != Op::kPatch && U.c < a->s && a->c < P.s) {
          blame(*a, at + "shows patch " + std::to_string(P.no) + " over upsert " +
                        std::to_string(U.no) + " though request " + std::to_string(a->no) +
                        " replaced or deleted it in between");
          break;
        }
      }
    } else {
      uint64_t max_s = 0;
      Request* latest = nullptr;
      uint64_t max_delete_c = 0;
      for (Request* a : t) {
        const Op op = *op_on(*a, id);
        if (op == Op::kUpsert && known[a->no] && a->s > max_s) {
          max_s = a->s;
          latest = a;
        }
        if (op == Op::kDelete) max_delete_c = std::max(max_delete_c, a->c);
      }
      if (latest != nullptr && max_delete_c < max_s) {
        blame(*latest, at + "is missing though upsert " + std::to_string(latest->no) +
                           " wrote it and no delete can follow");
      }
    }
  }
}

// Both reads (exact and ANN) checked, and compared with each other.
void VerifyServer(int port, Ledger& ledger, const Flags& f, const std::string& who, Verdict* v,
                  size_t* visible_docs) {
  Reply md = Send(port, "GET", std::string("/namespaces/") + kNamespace + "/metadata");
  if (md.status != 200 && md.status != 404) {
    v->Note(&v->unreadable,
            who + " metadata failed: " + std::to_string(md.status) + " " + md.text.substr(0, 300));
  }
  std::optional<std::map<int, json>> exact = ReadAll(port, true, f, who, v);
  std::optional<std::map<int, json>> ann = ReadAll(port, false, f, who, v);
  if (exact.has_value()) {
    CheckAgainstLedger(*exact, ledger.requests(), f, who + " exact", v);
    if (visible_docs != nullptr) *visible_docs = exact->size();
  }
  if (exact.has_value() && ann.has_value()) {
    auto strip = [](std::map<int, json> m) {
      for (auto& [id, row] : m) row.erase("dist");
      return m;
    };
    if (strip(*exact) != strip(*ann)) {
      size_t only_exact = 0, only_ann = 0, differ = 0;
      for (const auto& [id, row] : *exact) {
        if (!ann->count(id)) ++only_exact;
      }
      for (const auto& [id, row] : *ann) {
        if (!exact->count(id)) {
          ++only_ann;
        } else if (strip({{id, row}}) != strip({{id, exact->at(id)}})) {
          ++differ;
        }
      }
      v->Note(&v->mismatch, who + ": ANN and exact reads differ: " + std::to_string(only_exact) +
                                " only exact, " + std::to_string(only_ann) + " only ANN, " +
                                std::to_string(differ) + " differ");
    }
  }
}

// Polls metadata until the index covers everything (index.status up_to_date).
bool WaitIndexed(int port, int seconds, std::string* last) {
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (Clock::now() < deadline) {
    Reply md = Send(port, "GET", std::string("/namespaces/") + kNamespace + "/metadata");
    *last = md.text;
    if (md.status == 404) return true;  // nothing was ever written
    if (md.status == 200 && md.body.is_object() && md.body.contains("index") &&
        md.body["index"].value("status", "") == "up_to_date") {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

std::string ServerConfig(bool compactor, const std::string& cache_dir, bool small_memory) {
  std::string c =
      "[log]\nlevel = \"info\"\n"
      "[batching]\nwindow_ms = 2\n"
      "[indexing]\nmax_age_ms = 1\n"
      "[compactor]\n";
  c += compactor ? "enabled = true\n" : "enabled = false\n";
  c += "interval_ms = 20\ngc_grace_period_ms = 0\n";
  c += "[cache]\npath = \"" + cache_dir + "\"\n";
  if (small_memory) c += "memory_bytes = 0\n";  // every posting read goes to the disk cache
  return c;
}

// Damages the disk cache while its server is down: deletes the directory, or truncates or
// flips a byte in some of its entry files. Returns the number of entry files damaged.
uint64_t DamageCache(const std::string& dir, std::mt19937_64& rng, std::string* what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".vpc" && e.is_regular_file(ec)) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) {
    *what = "cache empty";
    return 0;
  }
  if (rng() % 5 == 0) {
    fs::remove_all(dir, ec);
    *what = "deleted the cache directory (" + std::to_string(files.size()) + " files)";
    return 0;  // nothing left to detect: every entry is a miss
  }
  uint64_t truncated = 0, flipped = 0;
  for (const fs::path& p : files) {
    if (rng() % 3 != 0) continue;  // about a third of the files
    struct stat st;
    if (::stat(p.c_str(), &st) != 0 || st.st_size == 0) continue;
    const uint64_t size = static_cast<uint64_t>(st.st_size);
    if (rng() % 2 == 0) {
      if (::truncate(p.c_str(), static_cast<off_t>(rng() % size)) == 0) ++truncated;
    } else {
      const int fd = ::open(p.c_str(), O_RDWR);
      if (fd < 0) continue;
      // Mostly in the value (detected on read), sometimes in the header (detected at start).
      const uint64_t off = rng() % 4 == 0 ? rng() % std::min<uint64_t>(size, 24) : rng() % size;
      unsigned char b = 0;
      if (::pread(fd, &b, 1, static_cast<off_t>(off)) == 1) {
        b ^= static_cast<unsigned char>(1u << (rng() % 8));
        if (::pwrite(fd, &b, 1, static_cast<off_t>(off)) == 1) ++flipped;
      }
      ::close(fd);
    }
  }
  *what = "truncated " + std::to_string(truncated) + ", flipped a bit in " +
          std::to_string(flipped) + " of " + std::to_string(files.size()) + " files";
  return truncated + flipped;
}

uint64_t CountOccurrences(const std::string& text, const std::string& needle) {
  uint64_t n = 0;
  for (size_t pos = text.find(needle); pos != std::string::npos;
       pos = text.find(needle, pos + needle.size())) {
    ++n;
  }
  return n;
}

int Run(const Flags& f) {
  const auto start = Clock::now();
  auto seconds = [&] { return std::chrono::duration<double>(Clock::now() - start).count(); };
  std::printf("crash_harness seed=%" PRIu64 " mode=%s backend=%s cycles=%d writers=%d ids=%d\n",
              g_seed, f.mode.c_str(), f.backend.c_str(), f.cycles, f.writers, f.ids);
  std::fflush(stdout);

  const char* tmp = std::getenv("TMPDIR");
  std::string root = std::string(tmp && *tmp ? tmp : "/tmp") + "/vecpuff-crash-XXXXXX";
  if (::mkdtemp(root.data()) == nullptr) {
    std::fprintf(stderr, "mkdtemp failed\n");
    return 2;
  }
  std::vector<std::string> env;
  if (f.backend == "s3") {
    const std::string endpoint = S3TestEndpoint();
    if (endpoint.empty()) {
      std::fprintf(stderr, "VECPUFF_TEST_S3_ENDPOINT is not set: run under scripts/with_moto.sh\n");
      return 2;
    }
    const std::string bucket = UniqueBucketName();
    if (!CreateBucket(endpoint, bucket)) {
      std::fprintf(stderr, "cannot create bucket %s on %s\n", bucket.c_str(), endpoint.c_str());
      return 2;
    }
    env = S3Env(endpoint, bucket);
  }
  const bool compactor_mode = f.mode == "compactor";
  const bool cache_mode = f.mode == "cache";
  const std::string store = root + "/store";
  const std::string cache_dir = root + "/cache";
  // The server the writers use; in compactor mode it does not compact.
  ServerProcess server(store, root, ServerConfig(!compactor_mode, cache_dir, cache_mode), env);
  // Compactor mode: the second process on the same store, the one that is killed.
  std::unique_ptr<ServerProcess> compactor;
  if (compactor_mode) {
    compactor = std::make_unique<ServerProcess>(
        store, root, ServerConfig(true, root + "/cache-compactor", false), env);
  }
  ServerProcess& victim = compactor_mode ? *compactor : server;

  Ledger ledger;
  Verdict total;
  std::mt19937_64 rng(Mix(g_seed ^ 0x6b696c6cULL));
  uint64_t damaged_files = 0;
  int cycles_run = 0;
  auto fail_start = [&](ServerProcess& s) {
    std::fprintf(stderr, "server did not start; log %s:\n%s\n", s.log_path().c_str(),
                 s.Log().c_str());
  };
  if (!server.Start()) {
    fail_start(server);
    return 1;
  }
  if (compactor && !compactor->Start()) {
    fail_start(*compactor);
    return 1;
  }

  for (int cycle = 1; cycle <= f.cycles; ++cycle) {
    if (f.max_seconds > 0 && seconds() >= f.max_seconds) break;
    cycles_run = cycle;
    const size_t first_request = ledger.requests().size();
    std::atomic<bool> stop{false};
    const int port = server.port();
    std::vector<std::thread> writers;
    for (int w = 0; w < f.writers; ++w) {
      writers.emplace_back([&, cycle] {
        httplib::Client c("127.0.0.1", port);
        c.set_connection_timeout(2, 0);
        c.set_read_timeout(60, 0);
        c.set_write_timeout(60, 0);
        const std::string path = std::string("/namespaces/") + kNamespace;
        while (!stop.load()) {
          Request& r = ledger.Begin(cycle, f.ids);
          const std::string body = BodyOf(r);
          httplib::Result res = c.Post(path, body, "application/json");
          const uint64_t tick = ledger.Tick();
          if (!res) {
            // Refused: never delivered, so never applied. Otherwise c is set below, when the
            // server is known dead.
            r.unsent = res.error() == httplib::Error::Connection;
            break;
          }
          r.answered = true;
          r.c = tick;
          if (res->status == 200) {
            r.acked = true;
            continue;
          }
          std::fprintf(stderr, "cycle %d: request %" PRIu64 " answered %d: %s\n", cycle, r.no,
                       res->status, res->body.substr(0, 200).c_str());
          break;
        }
      });
    }
    // In compactor mode a reader keeps the compactor's view of the log current (its tail is
    // what it indexes); it also reads through the compactor's index while it changes.
    std::thread reader;
    if (compactor_mode) {
      reader = std::thread([&] {
        const int cport = compactor->port();
        json q = {{"query_vector", std::vector<float>(kDims, 0.5f)}, {"top_k", 5}};
        while (!stop.load()) {
          (void)Send(cport, "POST", std::string("/namespaces/") + kNamespace + "/query", q.dump());
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
      });
    }
    const int kill_ms =
        f.min_kill_ms +
        static_cast<int>(rng() % static_cast<uint64_t>(f.max_kill_ms - f.min_kill_ms + 1));
    std::this_thread::sleep_for(std::chrono::milliseconds(kill_ms));
    Verdict before;
    if (f.verify_before_kill) {
      stop.store(true);
      for (auto& t : writers) t.join();
      writers.clear();
      VerifyServer(server.port(), ledger, f, "before kill", &before, nullptr);
    }
    victim.Kill();
    const uint64_t kill_tick = ledger.Tick();
    stop.store(true);
    for (auto& t : writers) t.join();
    if (reader.joinable()) reader.join();

    // Requests without an answer were in flight (or refused) when the server died: if
    // applied at all, they were applied before kill_tick. In compactor mode the writers'
    // server lives on, so such a request may still be applied at any time.
    uint64_t acked = 0, unacked = 0;
    for (size_t i = first_request; i < ledger.requests().size(); ++i) {
      Request& r = ledger.requests()[i];
      if (!r.answered) r.c = compactor_mode ? kNever : kill_tick;
      if (!r.unsent) (r.acked ? acked : unacked)++;
    }

    std::string damage;
    if (cache_mode) {
      damaged_files += DamageCache(cache_dir, rng, &damage);
    }
    if (!victim.Start()) {
      fail_start(victim);
      total.Note(&total.unreadable, "restart failed");
      break;
    }
    Verdict v = before;
    size_t visible = 0;
    VerifyServer(server.port(), ledger, f, "server", &v, &visible);
    if (compactor_mode) VerifyServer(compactor->port(), ledger, f, "compactor", &v, nullptr);
    std::printf("cycle %d/%d kill_after_ms=%d acked=%" PRIu64 " unacked=%" PRIu64
                " visible_docs=%zu lost=%" PRIu64 " corrupt=%" PRIu64 " partial=%" PRIu64
                " mismatch=%" PRIu64 " unreadable=%" PRIu64 "%s%s t=%.1fs\n",
                cycle, f.cycles, kill_ms, acked, unacked, visible, v.lost, v.corrupt, v.partial,
                v.mismatch, v.unreadable, damage.empty() ? "" : " cache: ", damage.c_str(),
                seconds());
    for (const auto& n : v.notes) std::printf("  problem: %s\n", n.c_str());
    std::fflush(stdout);
    total.Add(v);
    if (!v.ok()) break;  // keep the evidence: stop at the first bad cycle
  }

  // The end: the index catches up, and then the ANN and exact reads agree on everything.
  std::string last_md;
  if (total.ok()) {
    ServerProcess& indexer = compactor_mode ? *compactor : server;
    if (!WaitIndexed(indexer.port(), 120, &last_md)) {
      total.Note(&total.unreadable, "index did not catch up within 120 s: " + last_md);
    }
    Verdict v;
    size_t visible = 0;
    VerifyServer(indexer.port(), ledger, f, "final", &v, &visible);
    // Caught up, the index holds every document and the metadata counts them exactly.
    const json md = json::parse(last_md, nullptr, false);
    if (md.is_object() && md.contains("index")) {
      const uint64_t rows = md.value("approx_row_count", uint64_t{0});
      const uint64_t indexed = md["index"].value("indexed_row_count", uint64_t{0});
      if (rows != visible || indexed != visible) {
        v.Note(&v.mismatch, "final metadata counts " + std::to_string(rows) + " rows, " +
                                std::to_string(indexed) + " indexed; the exact read found " +
                                std::to_string(visible));
      }
    }
    if (compactor_mode) VerifyServer(server.port(), ledger, f, "final server", &v, nullptr);
    for (const auto& n : v.notes) std::printf("  problem: %s\n", n.c_str());
    total.Add(v);
    std::printf("final index: %s\n", last_md.c_str());
  }

  uint64_t acked_requests = 0, acked_rows = 0, unacked_requests = 0, unsent_requests = 0;
  for (const Request& r : ledger.requests()) {
    if (r.acked) {
      ++acked_requests;
      acked_rows += r.ops.size();
    } else if (r.unsent) {
      ++unsent_requests;
    } else {
      ++unacked_requests;
    }
  }
  std::string extra;
  if (cache_mode) {
    // The server logs every damaged entry it drops (disk_cache.cc, CountCorrupt): at start-up
    // for a bad header or size, on a read for a checksum mismatch. The latter proves that
    // postings were read from the disk cache and verified.
    const std::string log = server.Log();
    const uint64_t detected = CountOccurrences(log, "dropping damaged entry");
    const uint64_t on_read = CountOccurrences(log, "checksum mismatch");
    extra = " cache_damaged_files=" + std::to_string(damaged_files) +
            " cache_damage_detected=" + std::to_string(detected) +
            " (on_read_checksum_mismatch=" + std::to_string(on_read) + ")";
    if (damaged_files >= 10 && detected == 0) {
      total.Note(&total.unreadable, "cache mode: " + std::to_string(damaged_files) +
                                        " damaged cache files, none ever detected: the disk "
                                        "cache was not exercised");
    }
  }
  if (compactor_mode) {
    const std::string log = compactor->Log();
    extra = " compactor_commits=" + std::to_string(CountOccurrences(log, "index generation")) +
            " compactor_starts=" + std::to_string(CountOccurrences(log, "vecpuff starting"));
  }
  const bool ok = total.ok();
  std::printf("crash_harness mode=%s backend=%s cycles=%d writers=%d seed=%" PRIu64
              " acked_requests=%" PRIu64 " acked_rows=%" PRIu64 " unacked_requests=%" PRIu64
              " unsent_requests=%" PRIu64 " lost=%" PRIu64 " corrupt=%" PRIu64 " partial=%" PRIu64
              " mismatch=%" PRIu64 " unreadable=%" PRIu64 "%s seconds=%.1f\n",
              f.mode.c_str(), f.backend.c_str(), cycles_run, f.writers, g_seed, acked_requests,
              acked_rows, unacked_requests, unsent_requests, total.lost, total.corrupt,
              total.partial, total.mismatch, total.unreadable, extra.c_str(), seconds());
  for (const auto& n : total.notes) std::printf("  problem: %s\n", n.c_str());
  server.Kill();
  if (compactor) compactor->Kill();
  if (!ok || f.keep) {
    std::printf("kept %s (store, caches, server logs %s%s%s)\n", root.c_str(),
                server.log_path().c_str(), compactor ? " " : "",
                compactor ? compactor->log_path().c_str() : "");
  } else {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vecpuff::testing

int main(int argc, char** argv) {
  vecpuff::testing::Flags flags;
  if (!vecpuff::testing::ParseFlags(argc, argv, &flags)) {
    vecpuff::testing::Usage();
    return 2;
  }
  if (flags.seed == 0) flags.seed = std::random_device{}() | 1;
  vecpuff::testing::g_seed = flags.seed;
  return vecpuff::testing::Run(flags);
}
