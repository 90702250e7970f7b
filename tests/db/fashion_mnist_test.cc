// Recall on real data (Fashion-MNIST, Debian package dataset-fashion-mnist, installed by
// scripts/install_deps.sh) through a sequence of inserts, overwrites and deletes that makes
// postings split and merge. Ground truth is the exact scan of the same namespace.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>

#include "db/database.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

constexpr const char* kTrain = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";
constexpr const char* kTest = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

// Reads up to `limit` images of an IDX file as float vectors; empty if unreadable.
std::vector<std::vector<float>> LoadIdx(const char* path, size_t limit) {
  std::vector<std::vector<float>> out;
  gzFile f = gzopen(path, "rb");
  if (f == nullptr) return out;
  unsigned char h[16];
  if (gzread(f, h, 16) != 16) {
    gzclose(f);
    return out;
  }
  auto be = [&](int o) {
    return size_t{h[o]} << 24 | size_t{h[o + 1]} << 16 | h[o + 2] << 8 | h[o + 3];
  };
  const size_t n = std::min(be(4), limit), dims = be(8) * be(12);
  std::vector<unsigned char> buf(dims);
  for (size_t i = 0; i < n; ++i) {
    if (gzread(f, buf.data(), static_cast<unsigned>(dims)) != static_cast<int>(dims)) break;
    out.emplace_back(buf.begin(), buf.end());
  }
  gzclose(f);
  return out;
}

TEST(FashionMnistTest, RecallStaysAboveNinetyPercentThroughChurn) {
  // Kept small enough for the sanitizer build; the benchmark runs the full 60k.
  const size_t kPool = 9000, kQueries = 60;
  auto pool = LoadIdx(kTrain, kPool);
  auto queries = LoadIdx(kTest, kQueries);
  ASSERT_EQ(pool.size(), kPool) << "Fashion-MNIST missing: run scripts/install_deps.sh";
  ASSERT_EQ(queries.size(), kQueries);

  auto store = NewMemoryStore();
  DbOptions o;
  o.compactor_enabled = false;
  o.batch_window_ms = 0;
  o.index_tuning.posting_target = 40;
  o.index_tuning.split_limit = 80;
  o.index_tuning.merge_limit = 12;
  Database db(store.get(), o);
  std::mt19937_64 rng(11);
  std::map<std::string, size_t> live;  // id -> pool row of its current vector
  size_t next_row = 0, next_id = 0;

  auto upsert = [&](WriteRequest* w, const std::string& id, size_t row) {
    UpsertRow r;
    r.id = id;
    r.vector = pool[row];
    r.attributes = {{"row", row}};
    w->upsert_rows.push_back(std::move(r));
    live[id] = row;
  };
  auto check = [&](const char* when) {
    size_t found = 0, total = 0;
    for (const auto& qv : queries) {
      QueryRequest exact;
      exact.vector = qv;
      exact.exact = true;
      QueryRequest ann = exact;
      ann.exact = false;
      auto truth = db.Query("fm", exact);
      auto got = db.Query("fm", ann);
      ASSERT_TRUE(truth.ok() && got.ok());
      std::set<std::string> want;
      for (const auto& h : truth->hits) want.insert(h.id);
      for (const auto& h : got->hits) {
        auto it = live.find(h.id);
        ASSERT_TRUE(it != live.end()) << when << ": deleted document returned: " << h.id;
        EXPECT_EQ(h.attributes["row"], it->second) << when << ": stale copy of " << h.id;
        found += want.count(h.id);
      }
      total += want.size();
    }
    const double recall = double(found) / total;
    EXPECT_GE(recall, 0.9) << when;
  };

  WriteRequest first;
  first.distance_metric = DistanceMetric::kEuclideanSquared;
  for (; next_row < 5000; ++next_row) upsert(&first, "f" + std::to_string(next_id++), next_row);
  ASSERT_TRUE(db.Write("fm", std::move(first)).ok());
  ASSERT_TRUE(db.Compact("fm").ok());
  check("after the build");

  for (int round = 1; round <= 4; ++round) {
    WriteRequest w;
    for (int i = 0; i < 1000 && next_row < kPool; ++i, ++next_row) {
      upsert(&w, "f" + std::to_string(next_id++), next_row);
    }
    std::vector<std::string> ids;
    for (const auto& [id, row] : live) ids.push_back(id);
    std::shuffle(ids.begin(), ids.end(), rng);
    // Overwrites with another image (the document moves in vector space).
    for (int i = 0; i < 300; ++i)
      upsert(&w, ids[i], std::uniform_int_distribution<size_t>(0, kPool - 1)(rng));
    ASSERT_TRUE(db.Write("fm", std::move(w)).ok());
    WriteRequest del;
    for (int i = 300; i < 900; ++i) {
      del.deletes.push_back(ids[i]);
      live.erase(ids[i]);
    }
    ASSERT_TRUE(db.Write("fm", std::move(del)).ok());
    check("before compaction");
    ASSERT_TRUE(db.Compact("fm").ok());
    check("after compaction");
  }
  auto ns = db.TestOnlyNamespace("fm");
  ASSERT_TRUE(ns.ok());
  const CompactionStats totals = (*ns)->compaction_totals();
  EXPECT_GT(totals.splits, 0u);
  EXPECT_GT(totals.merges, 0u);
  auto md = db.Metadata("fm");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->indexed_row_count, live.size());
}

}  // namespace
}  // namespace vecpuff
