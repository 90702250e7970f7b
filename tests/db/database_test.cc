#include "db/database.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <random>
#include <thread>

#include "catalog/layout.h"
#include "catalog/manifest.h"
#include "storage/memory_store.h"
#include "wal/wal_format.h"

namespace vecpuff {
namespace {

using nlohmann::json;

UpsertRow Row(std::string id, std::vector<float> v, json attrs = json::object()) {
  UpsertRow r;
  r.id = std::move(id);
  r.vector = std::move(v);
  r.attributes = std::move(attrs);
  return r;
}

WriteRequest Upserts(std::vector<UpsertRow> rows) {
  WriteRequest w;
  w.upsert_rows = std::move(rows);
  return w;
}

QueryRequest Q(std::vector<float> v, size_t k = 10) {
  QueryRequest q;
  q.vector = std::move(v);
  q.top_k = k;
  return q;
}

std::vector<std::string> Ids(const QueryResult& r) {
  std::vector<std::string> ids;
  for (const auto& h : r.hits) ids.push_back(h.id);
  return ids;
}

size_t WalObjects(ObjectStore* store, const std::string& ns) {
  auto all = ListAll(store, WalPrefix("", ns));
  return all.ok() ? all->size() : 0;
}

// Fails every WAL put while `fail` is set, before it reaches the store.
class FailingWalPuts : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  std::atomic<bool> fail{false};
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    if (fail && key.find("/wal/") != std::string_view::npos) {
      return Status::Unavailable("injected: storage down");
    }
    return ObjectStoreWrapper::Put(key, data, options);
  }
};

// Scripted failures for the WAL protocol: the next WAL put can be stored-but-reported-lost
// (ambiguous) or failed outright; WAL gets can be made to fail.
class ScriptedWalStore : public ObjectStoreWrapper {
 public:
  using ObjectStoreWrapper::ObjectStoreWrapper;
  std::atomic<int> ambiguous_wal_puts{0};  // store, then report Unavailable
  std::atomic<int> failed_wal_puts{0};     // report Unavailable without storing
  std::atomic<bool> gets_down{false};      // every get fails while set
  std::string fail_gets_of;                // gets of this key fail (set before use)
  Result<ObjectMeta> Put(std::string_view key, std::string_view data,
                         const PutOptions& options) override {
    if (IsWal(key) && failed_wal_puts > 0) {
      --failed_wal_puts;
      return Status::Unavailable("injected: put failed");
    }
    auto r = ObjectStoreWrapper::Put(key, data, options);
    if (IsWal(key) && r.ok() && ambiguous_wal_puts > 0) {
      --ambiguous_wal_puts;
      return Status::Unavailable("injected: response lost");
    }
    return r;
  }
  Result<GetResult> Get(std::string_view key, std::optional<ByteRange> range) override {
    if (gets_down || (!fail_gets_of.empty() && key == fail_gets_of)) {
      return Status::Unavailable("injected: storage down");
    }
    return ObjectStoreWrapper::Get(key, range);
  }

 private:
  static bool IsWal(std::string_view key) { return key.find("/wal/") != std::string_view::npos; }
};

class DatabaseTest : public ::testing::Test {
 protected:
  DatabaseTest() : store_(NewMemoryStore()) {}
  DbOptions Options() {
    DbOptions o;
    o.batch_window_ms = 0;
    return o;
  }
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(DatabaseTest, ExactTopKByEuclideanWithTiesBrokenById) {
  Database db(store_.get(), Options());
  WriteRequest w = Upserts(
      {Row("c", {1, 0}), Row("a", {0, 1}), Row("b", {1, 1}), Row("d", {5, 5}), Row("e", {-1, 0})});
  w.distance_metric = DistanceMetric::kEuclideanSquared;
  auto r = db.Write("ns", std::move(w));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->upserted_count, 5u);
  auto q = db.Query("ns", Q({0, 0}, 4));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  // a, c and e are all at distance 1: ordered by id.
  EXPECT_EQ(Ids(*q), (std::vector<std::string>{"a", "c", "e", "b"}));
  EXPECT_FLOAT_EQ(q->hits[0].dist, 1.0f);
  EXPECT_FLOAT_EQ(q->hits[3].dist, 2.0f);
}

TEST_F(DatabaseTest, CosineIsTheDefaultMetric) {
  Database db(store_.get(), Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("same", {2, 0}), Row("orth", {0, 3}), Row("opp", {-1, 0}),
                                      Row("zero", {0, 0})}))
                  .ok());
  auto q = db.Query("ns", Q({1, 0}));
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->hits.size(), 4u);
  EXPECT_EQ(q->hits[0].id, "same");
  EXPECT_NEAR(q->hits[0].dist, 0.0, 1e-6);
  EXPECT_NEAR(q->hits[1].dist, 1.0, 1e-6);  // orth and zero at 1, by id
  EXPECT_EQ(q->hits[1].id, "orth");
  EXPECT_EQ(q->hits[2].id, "zero");
  EXPECT_EQ(q->hits[3].id, "opp");
  EXPECT_NEAR(q->hits[3].dist, 2.0, 1e-6);
  auto md = db.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->distance_metric, DistanceMetric::kCosineDistance);
  EXPECT_EQ(md->dimensions, 2u);
  EXPECT_EQ(md->approx_row_count, 4u);
}

TEST_F(DatabaseTest, UpsertReplacesPatchMergesDeleteRemoves) {
  Database db(store_.get(), Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1, 0}, {{"x", 1}, {"y", "keep"}})})).ok());
  // Upsert replaces the whole document: "y" is gone.
  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {0, 1}, {{"x", 2}})})).ok());
  WriteRequest patch;
  patch.patch_rows.push_back({"a", {{"z", true}, {"x", 3}}});
  patch.patch_rows.push_back({"missing", {{"z", true}}});
  auto pr = db.Write("ns", std::move(patch));
  ASSERT_TRUE(pr.ok());
  EXPECT_EQ(pr->patched_count, 1u);  // the patch to a missing id is ignored
  auto q = db.Query("ns", Q({0, 1}));
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(Ids(*q), std::vector<std::string>{"a"});
  EXPECT_EQ(q->hits[0].attributes, (json{{"x", 3}, {"z", true}}));
  EXPECT_EQ(q->hits[0].vector, (std::vector<float>{0, 1}));

  WriteRequest del;
  del.deletes = {"a", "never-existed"};
  auto dr = db.Write("ns", std::move(del));
  ASSERT_TRUE(dr.ok());
  EXPECT_EQ(dr->deleted_count, 1u);
  q = db.Query("ns", Q({0, 1}));
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(q->hits.empty());
}

TEST_F(DatabaseTest, OneRequestAppliesUpsertsThenPatchesThenDeletes) {
  Database db(store_.get(), Options());
  WriteRequest w = Upserts({Row("a", {1, 0}), Row("b", {0, 1})});
  w.patch_rows.push_back({"a", {{"patched", 1}}});  // sees the upsert of the same request
  w.deletes = {"b"};
  auto r = db.Write("ns", std::move(w));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->upserted_count, 2u);
  EXPECT_EQ(r->patched_count, 1u);
  EXPECT_EQ(r->deleted_count, 1u);
  auto q = db.Query("ns", Q({1, 0}));
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(Ids(*q), std::vector<std::string>{"a"});
  EXPECT_EQ(q->hits[0].attributes, (json{{"patched", 1}}));
}

TEST_F(DatabaseTest, DimensionsAreFixedByTheFirstVectorAndWrongOnesChangeNothing) {
  Database db(store_.get(), Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1, 2, 3})})).ok());
  size_t before = WalObjects(store_.get(), "ns");
  auto bad = db.Write("ns", Upserts({Row("b", {1, 2, 3}), Row("c", {1, 2})}));
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsInvalidArgument());
  EXPECT_EQ(bad.status().message(), "upsert_rows[1].vector: expected 3 dimensions, got 2");
  EXPECT_EQ(WalObjects(store_.get(), "ns"), before);
  auto q = db.Query("ns", Q({1, 2}));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(), "query_vector: expected 3 dimensions, got 2");
  q = db.Query("ns", Q({1, 2, 3}));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(Ids(*q), std::vector<std::string>{"a"});  // "b" was not written
}

TEST_F(DatabaseTest, MixedDimensionsInTheFirstRequestAreRejected) {
  Database db(store_.get(), Options());
  auto bad = db.Write("ns", Upserts({Row("a", {1, 2}), Row("b", {1, 2, 3})}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "upsert_rows[1].vector: expected 2 dimensions, got 3");
  EXPECT_EQ(WalObjects(store_.get(), "ns"), 0u);
  // The rejected request did not create the namespace either.
  EXPECT_TRUE(db.Metadata("ns").status().IsNotFound());
  auto all = ListAll(store_.get(), "");
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST_F(DatabaseTest, MetricIsFixedAtCreation) {
  Database db(store_.get(), Options());
  WriteRequest w = Upserts({Row("a", {1, 0})});
  w.distance_metric = DistanceMetric::kEuclideanSquared;
  ASSERT_TRUE(db.Write("ns", std::move(w)).ok());
  WriteRequest w2 = Upserts({Row("b", {1, 0})});
  w2.distance_metric = DistanceMetric::kCosineDistance;
  auto r = db.Write("ns", std::move(w2));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument());
  EXPECT_NE(r.status().message().find("euclidean_squared"), std::string::npos);
  // Not naming a metric is fine.
  EXPECT_TRUE(db.Write("ns", Upserts({Row("c", {1, 0})})).ok());
}

TEST_F(DatabaseTest, LimitsAreEnforcedWithMessages) {
  DbOptions o = Options();
  o.max_id_bytes = 4;
  o.max_rows_per_request = 3;
  o.max_attribute_bytes = 10;
  o.max_dimensions = 4;
  o.max_top_k = 5;
  Database db(store_.get(), o);
  auto expect_invalid = [&](WriteRequest w, std::string_view needle) {
    auto r = db.Write("ns", std::move(w));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
  };
  expect_invalid(Upserts({Row("toolong", {1})}), "upsert_rows[0].id");
  expect_invalid(Upserts({Row("", {1})}), "must not be empty");
  expect_invalid(Upserts({Row("a", {1}), Row("b", {1}), Row("c", {1}), Row("d", {1})}),
                 "limit is 3");
  expect_invalid(Upserts({Row("a", {1}, {{"s", "0123456789abc"}})}), "upsert_rows[0].s");
  expect_invalid(Upserts({Row("a", {1, 2, 3, 4, 5})}), "limit is 4");
  expect_invalid(WriteRequest{}, "no upsert_rows");
  WriteRequest d;
  d.deletes = {"abcdef"};
  expect_invalid(std::move(d), "deletes[0]");
  EXPECT_EQ(WalObjects(store_.get(), "ns"), 0u);
  EXPECT_TRUE(db.Metadata("ns").status().IsNotFound());  // rejected writes create nothing

  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1})})).ok());
  EXPECT_TRUE(db.Query("ns", Q({1}, 0)).status().IsInvalidArgument());
  EXPECT_TRUE(db.Query("ns", Q({1}, 6)).status().IsInvalidArgument());
  EXPECT_TRUE(db.Query("ns", Q({1}, 5)).ok());
}

TEST_F(DatabaseTest, NamespaceNames) {
  EXPECT_TRUE(ValidateNamespaceName("a-b_c.9").ok());
  EXPECT_TRUE(ValidateNamespaceName(std::string(128, 'x')).ok());
  EXPECT_FALSE(ValidateNamespaceName(std::string(129, 'x')).ok());
  EXPECT_FALSE(ValidateNamespaceName("").ok());
  EXPECT_FALSE(ValidateNamespaceName(".").ok());
  EXPECT_FALSE(ValidateNamespaceName("..").ok());
  EXPECT_FALSE(ValidateNamespaceName("a/b").ok());
  EXPECT_FALSE(ValidateNamespaceName("a b").ok());
  EXPECT_FALSE(ValidateNamespaceName("é").ok());
  Database db(store_.get(), Options());
  EXPECT_TRUE(db.Write("..", Upserts({Row("a", {1})})).status().IsInvalidArgument());
}

TEST_F(DatabaseTest, UnknownNamespaceIsNotFound) {
  Database db(store_.get(), Options());
  EXPECT_TRUE(db.Query("nope", Q({1})).status().IsNotFound());
  EXPECT_TRUE(db.Metadata("nope").status().IsNotFound());
  // Reading it did not create it.
  auto names = db.ListNamespaces();
  ASSERT_TRUE(names.ok());
  EXPECT_TRUE(names->empty());
}

TEST_F(DatabaseTest, StateIsRecoveredFromObjectStorageAlone) {
  DbOptions o = Options();
  std::vector<std::string> ids;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1, 1);
  {
    Database db(store_.get(), o);
    for (int batch = 0; batch < 300; ++batch) {  // > hint interval and replay window
      std::vector<UpsertRow> rows;
      for (int i = 0; i < 3; ++i) {
        rows.push_back(
            Row("d" + std::to_string(batch * 3 + i), {u(rng), u(rng), u(rng)}, {{"batch", batch}}));
      }
      ASSERT_TRUE(db.Write("ns", Upserts(std::move(rows))).ok());
    }
    WriteRequest del;
    del.deletes = {"d0", "d1"};
    ASSERT_TRUE(db.Write("ns", std::move(del)).ok());
  }
  // The writer advanced the manifest's WAL hint as it went (every 64 entries).
  auto manifest_object = store_->Get(ManifestKey("", "ns"));
  ASSERT_TRUE(manifest_object.ok());
  auto manifest = DecodeManifest(manifest_object->data);
  ASSERT_TRUE(manifest.ok());
  EXPECT_GE(manifest->wal_next_seq_hint, 301u - 64u);
  EXPECT_LE(manifest->wal_next_seq_hint, 302u);
  EXPECT_EQ(manifest->dimensions, 3u);

  Database a(store_.get(), o);
  Database b(store_.get(), o);
  auto qa = a.Query("ns", Q({0.1f, 0.2f, 0.3f}, 50));
  auto qb = b.Query("ns", Q({0.1f, 0.2f, 0.3f}, 50));
  ASSERT_TRUE(qa.ok() && qb.ok());
  ASSERT_EQ(Ids(*qa), Ids(*qb));
  EXPECT_EQ(qa->hits.size(), 50u);
  auto ma = a.Metadata("ns");
  ASSERT_TRUE(ma.ok());
  EXPECT_EQ(ma->approx_row_count, 898u);
  EXPECT_EQ(ma->dimensions, 3u);
  auto names = a.ListNamespaces();
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, std::vector<std::string>{"ns"});
}

TEST_F(DatabaseTest, StrongQueriesSeeWritesOfAnotherInstanceAndEventualMayNot) {
  Database a(store_.get(), Options());
  Database b(store_.get(), Options());
  ASSERT_TRUE(a.Write("ns", Upserts({Row("a1", {1, 0})})).ok());
  ASSERT_TRUE(b.Query("ns", Q({1, 0})).ok());  // b opens the namespace
  ASSERT_TRUE(a.Write("ns", Upserts({Row("a2", {0, 1})})).ok());
  QueryRequest eventual = Q({1, 0});
  eventual.consistency = Consistency::kEventual;
  auto qe = b.Query("ns", eventual);
  ASSERT_TRUE(qe.ok());
  EXPECT_EQ(Ids(*qe), std::vector<std::string>{"a1"});
  auto qs = b.Query("ns", Q({1, 0}));
  ASSERT_TRUE(qs.ok());
  EXPECT_EQ(Ids(*qs), (std::vector<std::string>{"a1", "a2"}));
  // b writes at the next sequence number after catching up.
  ASSERT_TRUE(b.Write("ns", Upserts({Row("b1", {1, 1})})).ok());
  auto qa = a.Query("ns", Q({1, 0}));
  ASSERT_TRUE(qa.ok());
  EXPECT_EQ(qa->hits.size(), 3u);
  EXPECT_EQ(WalObjects(store_.get(), "ns"), 3u);
}

TEST_F(DatabaseTest, InstanceWhoseManifestPredatesTheFirstVectorStillSeesIt) {
  Database a(store_.get(), Options());
  Database b(store_.get(), Options());
  WriteRequest create;
  create.deletes = {"nothing"};
  ASSERT_TRUE(a.Write("ns", std::move(create)).ok());  // exists, no dimensions yet
  auto md = b.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->dimensions, 0u);
  ASSERT_TRUE(a.Write("ns", Upserts({Row("v", {1, 0})})).ok());
  auto q = b.Query("ns", Q({1, 0}));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(Ids(*q), std::vector<std::string>{"v"});
  md = b.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->dimensions, 2u);
  auto bad = b.Write("ns", Upserts({Row("w", {1, 0, 0})}));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "upsert_rows[0].vector: expected 2 dimensions, got 3");
}

TEST_F(DatabaseTest, WriterThatLostTheSequenceRaceRetriesAtTheNextNumber) {
  Database a(store_.get(), Options());
  Database b(store_.get(), Options());
  ASSERT_TRUE(a.Write("ns", Upserts({Row("x", {1, 0}, {{"v", "a"}})})).ok());
  ASSERT_TRUE(b.Metadata("ns").ok());                                           // b is now at seq 2
  ASSERT_TRUE(a.Write("ns", Upserts({Row("x", {1, 0}, {{"v", "a2"}})})).ok());  // a takes 2
  // b does not know about seq 2: its create-only put at 2 fails, it catches up and uses 3.
  ASSERT_TRUE(b.Write("ns", Upserts({Row("x", {1, 0}, {{"v", "b"}})})).ok());
  for (Database* db : {&a, &b}) {
    auto q = db->Query("ns", Q({1, 0}));
    ASSERT_TRUE(q.ok());
    ASSERT_EQ(q->hits.size(), 1u);
    EXPECT_EQ(q->hits[0].attributes["v"], "b");  // last in log order wins
  }
  EXPECT_EQ(WalObjects(store_.get(), "ns"), 3u);
}

TEST_F(DatabaseTest, ConcurrentWritersAreGroupCommitted) {
  DbOptions o = Options();
  o.batch_window_ms = 50;
  Database db(store_.get(), o);
  ASSERT_TRUE(db.Write("ns", Upserts({Row("seed", {0, 0})})).ok());
  constexpr int kWriters = 16;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < kWriters; ++t) {
    threads.emplace_back([&, t] {
      auto r = db.Write("ns", Upserts({Row("w" + std::to_string(t), {float(t), 1})}));
      if (r.ok()) ++ok;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(ok.load(), kWriters);
  // 16 writers within a 50 ms window share far fewer WAL objects than 16.
  size_t objects = WalObjects(store_.get(), "ns") - 1;
  EXPECT_LT(objects, static_cast<size_t>(kWriters) / 2);
  auto md = db.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->approx_row_count, kWriters + 1u);
}

TEST_F(DatabaseTest, FailedWalPutFailsTheWholeBatchAndAppliesNothing) {
  FailingWalPuts failing(store_.get());
  DbOptions o = Options();
  o.batch_window_ms = 30;
  Database db(&failing, o);
  ASSERT_TRUE(db.Write("ns", Upserts({Row("before", {1, 0})})).ok());
  failing.fail = true;
  std::vector<std::thread> threads;
  std::atomic<int> failed{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      auto r = db.Write("ns", Upserts({Row("lost" + std::to_string(t), {1, 1})}));
      if (!r.ok() && r.status().IsUnavailable()) ++failed;
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failed.load(), 8);
  failing.fail = false;
  ASSERT_TRUE(db.Write("ns", Upserts({Row("after", {0, 1})})).ok());
  for (Database* d : {&db}) {
    auto q = d->Query("ns", Q({1, 1}));
    ASSERT_TRUE(q.ok());
    EXPECT_EQ(Ids(*q), (std::vector<std::string>{"after", "before"}));
  }
  Database fresh(store_.get(), o);
  auto q = fresh.Query("ns", Q({1, 1}));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->hits.size(), 2u);
}

TEST_F(DatabaseTest, TwoInstancesWritingConcurrentlyLoseNothingAndAgree) {
  DbOptions o = Options();
  o.batch_window_ms = 1;
  Database a(store_.get(), o);
  Database b(store_.get(), o);
  ASSERT_TRUE(a.Write("ns", Upserts({Row("seed", {0, 0})})).ok());
  std::atomic<int> acked{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Database& db = (t % 2) ? a : b;
      for (int i = 0; i < 25; ++i) {
        std::string id = "t" + std::to_string(t) + "-" + std::to_string(i);
        // Each thread also overwrites one shared id: last in log order must win everywhere.
        WriteRequest w =
            Upserts({Row(id, {float(t), float(i)}), Row("shared", {1, 1}, {{"by", id}})});
        if (db.Write("ns", std::move(w)).ok()) ++acked;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(acked.load(), 200);
  auto ma = a.Metadata("ns");
  auto mb = b.Metadata("ns");
  ASSERT_TRUE(ma.ok() && mb.ok());
  EXPECT_EQ(ma->approx_row_count, 202u);
  EXPECT_EQ(mb->approx_row_count, 202u);
  auto qa = a.Query("ns", Q({1, 1}, 1000));
  auto qb = b.Query("ns", Q({1, 1}, 1000));
  ASSERT_TRUE(qa.ok() && qb.ok());
  EXPECT_EQ(Ids(*qa), Ids(*qb));
  json shared_a, shared_b;
  for (auto& h : qa->hits)
    if (h.id == "shared") shared_a = h.attributes;
  for (auto& h : qb->hits)
    if (h.id == "shared") shared_b = h.attributes;
  EXPECT_EQ(shared_a, shared_b);
  EXPECT_FALSE(shared_a.is_null());
}

TEST_F(DatabaseTest, WalPutWhoseResponseWasLostIsRecognisedAsStored) {
  ScriptedWalStore scripted(store_.get());
  Database db(&scripted, Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1, 0})})).ok());
  scripted.ambiguous_wal_puts = 1;
  auto r = db.Write("ns", Upserts({Row("b", {0, 1})}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();  // stored, so acknowledged
  EXPECT_EQ(r->upserted_count, 1u);
  Database fresh(store_.get(), Options());
  auto q = fresh.Query("ns", Q({1, 1}));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->hits.size(), 2u);
  EXPECT_EQ(WalObjects(store_.get(), "ns"), 2u);
}

TEST_F(DatabaseTest, FailedWalPutIsFencedSoTheWriteCanNeverAppear) {
  ScriptedWalStore scripted(store_.get());
  Database db(&scripted, Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1, 0})})).ok());
  scripted.failed_wal_puts = 1;
  auto r = db.Write("ns", Upserts({Row("lost", {0, 1})}));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable());
  EXPECT_NE(r.status().message().find("nothing was applied"), std::string::npos)
      << r.status().ToString();
  // Seq 2 now holds an empty fence entry; a late copy of the failed put could not land.
  auto fence = store_->Get(WalKey("", "ns", 2));
  ASSERT_TRUE(fence.ok());
  auto entry = DecodeWalEntry(fence->data, 2);
  ASSERT_TRUE(entry.ok());
  EXPECT_TRUE(entry->requests.empty());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("c", {1, 1})})).ok());  // at seq 3
  Database fresh(store_.get(), Options());
  auto q = fresh.Query("ns", Q({1, 1}));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(Ids(*q), (std::vector<std::string>{"c", "a"}));
}

TEST_F(DatabaseTest, FailedWalPutWithStorageUnreachableSaysTheOutcomeIsUnknown) {
  ScriptedWalStore scripted(store_.get());
  Database db(&scripted, Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1, 0})})).ok());
  scripted.ambiguous_wal_puts = 1;
  scripted.gets_down = true;
  auto r = db.Write("ns", Upserts({Row("maybe", {0, 1})}));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsUnavailable());
  EXPECT_NE(r.status().message().find("may or may not take effect"), std::string::npos)
      << r.status().ToString();
  scripted.gets_down = false;
  // It was in fact stored; the next write finds it and goes after it.
  ASSERT_TRUE(db.Write("ns", Upserts({Row("c", {1, 1})})).ok());
  auto q = db.Query("ns", Q({1, 1}));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->hits.size(), 3u);
}

TEST_F(DatabaseTest, OpenThatFailedHalfwayThroughReplayCanBeRetried) {
  {
    Database writer(store_.get(), Options());
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(writer.Write("ns", Upserts({Row("d" + std::to_string(i), {1, float(i)})})).ok());
    }
  }
  // The same Namespace object is opened twice, as when a second request was waiting on
  // the first one's Open.
  ScriptedWalStore scripted(store_.get());
  DbOptions o = Options();
  Namespace ns(&scripted, &o, "ns");
  scripted.fail_gets_of = WalKey("", "ns", 3);  // replay applies 1 and 2, then fails
  Status first = ns.Open(std::nullopt);
  ASSERT_FALSE(first.ok());
  EXPECT_TRUE(first.IsUnavailable()) << first.ToString();
  scripted.fail_gets_of = "x";  // no such key
  Status second = ns.Open(std::nullopt);
  ASSERT_TRUE(second.ok()) << second.ToString();
  auto q = ns.Query(Q({1, 0}));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->hits.size(), 5u);
  auto md = ns.Metadata(Consistency::kStrong);
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->approx_row_count, 5u);
}

TEST_F(DatabaseTest, AttributeBytesCountTowardTheBatchLimit) {
  DbOptions o = Options();
  o.batch_window_ms = 100;
  o.max_batch_bytes = 10000;  // two of the writes below, not three
  Database db(store_.get(), o);
  ASSERT_TRUE(db.Write("ns", Upserts({Row("seed", {0, 0})})).ok());
  const std::string blob(4000, 'x');
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      EXPECT_TRUE(
          db.Write("ns", Upserts({Row("w" + std::to_string(t), {1, 1}, {{"blob", blob}})})).ok());
    });
  }
  for (auto& th : threads) th.join();
  // 6 writes of ~4 KB with a 10 KB limit need at least 3 entries.
  EXPECT_GE(WalObjects(store_.get(), "ns") - 1, 3u);
}

TEST_F(DatabaseTest, HugeComponentsGiveFiniteCosineDistances) {
  Database db(store_.get(), Options());
  ASSERT_TRUE(db.Write("ns", Upserts({Row("same", {1e20f, 1e20f}), Row("other", {1e20f, -1e20f}),
                                      Row("small", {1, 2})}))
                  .ok());
  auto q = db.Query("ns", Q({1e20f, 1e20f}));
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->hits.size(), 3u);
  EXPECT_EQ(q->hits[0].id, "same");
  EXPECT_NEAR(q->hits[0].dist, 0.0, 1e-6);
  EXPECT_EQ(q->hits[2].id, "other");
  EXPECT_NEAR(q->hits[2].dist, 1.0, 1e-6);
  for (const auto& h : q->hits) EXPECT_TRUE(std::isfinite(h.dist)) << h.id;
}

TEST_F(DatabaseTest, CorruptWalEntryIsReportedNotSkipped) {
  {
    Database db(store_.get(), Options());
    ASSERT_TRUE(db.Write("ns", Upserts({Row("a", {1, 0})})).ok());
    ASSERT_TRUE(db.Write("ns", Upserts({Row("b", {1, 0})})).ok());
  }
  auto obj = store_->Get(WalKey("", "ns", 2));
  ASSERT_TRUE(obj.ok());
  std::string bad = obj->data;
  bad[bad.size() - 1] ^= 1;
  ASSERT_TRUE(store_->Put(WalKey("", "ns", 2), bad).ok());
  Database db(store_.get(), Options());
  auto q = db.Query("ns", Q({1, 0}));
  ASSERT_FALSE(q.ok());
  EXPECT_TRUE(q.status().IsCorruption()) << q.status().ToString();
}

}  // namespace
}  // namespace vecpuff

namespace vecpuff {
namespace {

// Attributes are a JSON object. Null (a row built with `{}` in C++) means none; any other
// value is rejected with a clear error and nothing is written. Before, a null was accepted
// and every later query that returned the document failed with Corruption once indexed.
TEST(DatabaseAttributesTest, NullMeansNoneAndOtherNonObjectsAreRejected) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  DbOptions o;
  o.batch_window_ms = 0;
  o.compactor_enabled = false;
  Database db(store.get(), o);
  WriteRequest w;
  w.distance_metric = DistanceMetric::kEuclideanSquared;
  w.upsert_rows.push_back({"a", {1, 0}, {}});
  w.upsert_rows.push_back({"b", {0, 1}, nlohmann::json::object({{"k", 1}})});
  w.patch_rows.push_back({"b", {}});
  ASSERT_TRUE(db.Write("ns", std::move(w)).ok());
  ASSERT_TRUE(db.Compact("ns", /*force=*/true).ok());
  QueryRequest q;
  q.vector = {1, 0};
  q.top_k = 2;
  q.include_attributes = true;
  auto r = db.Query("ns", q);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->hits.size(), 2u);
  EXPECT_EQ(r->hits[0].id, "a");
  EXPECT_EQ(r->hits[0].attributes, nlohmann::json::object());
  EXPECT_EQ(r->hits[1].attributes, nlohmann::json::object({{"k", 1}}));

  for (nlohmann::json bad : {nlohmann::json::array({1}), nlohmann::json(3), nlohmann::json("x")}) {
    WriteRequest u;
    u.upsert_rows.push_back({"c", {1, 1}, bad});
    auto s = db.Write("ns", std::move(u));
    ASSERT_FALSE(s.ok());
    EXPECT_TRUE(s.status().IsInvalidArgument()) << s.status().ToString();
    EXPECT_NE(s.status().message().find("attributes must be an object"), std::string::npos)
        << s.status().ToString();
    WriteRequest p;
    p.patch_rows.push_back({"a", bad});
    EXPECT_TRUE(db.Write("ns", std::move(p)).status().IsInvalidArgument());
  }
  auto m = db.Metadata("ns");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->approx_row_count, 2u);
}

// updated_at is the time of the last write: indexing, which rewrites the manifest, does not
// move it, and a restarted process (whose WAL tail is gone into the index) reports the same.
TEST(DatabaseMetadataTest, UpdatedAtIsTheLastWriteNotTheLastIndexingPass) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  DbOptions o;
  o.batch_window_ms = 0;
  o.compactor_enabled = false;
  int64_t written_at = 0;
  {
    Database db(store.get(), o);
    WriteRequest w;
    w.upsert_rows.push_back({"a", {1, 0}, {}});
    ASSERT_TRUE(db.Write("ns", std::move(w)).ok());
    auto before = db.Metadata("ns");
    ASSERT_TRUE(before.ok());
    written_at = before->updated_at_ms;
    EXPECT_GE(written_at, before->created_at_ms);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_TRUE(db.Compact("ns", /*force=*/true).ok());
    auto after = db.Metadata("ns");
    ASSERT_TRUE(after.ok());
    EXPECT_EQ(after->index_status, "up_to_date");
    EXPECT_EQ(after->updated_at_ms, written_at);
  }
  Database restarted(store.get(), o);
  auto md = restarted.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->indexed_row_count, 1u);
  EXPECT_EQ(md->updated_at_ms, written_at);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  WriteRequest w;
  w.deletes.push_back("a");
  ASSERT_TRUE(restarted.Write("ns", std::move(w)).ok());
  md = restarted.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_GT(md->updated_at_ms, written_at);
}

}  // namespace
}  // namespace vecpuff
