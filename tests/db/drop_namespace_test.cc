// Deleting a namespace (Database::DeleteNamespace, a drop entry in the WAL): what it removes,
// that a later write starts a new namespace of the same name, and what happens when other
// processes sharing the store write, compact or die around it.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "catalog/layout.h"
#include "db/database.h"
#include "storage/memory_store.h"
#include "wal/wal_format.h"

namespace vecpuff {
namespace {

using nlohmann::json;

DbOptions Options() {
  DbOptions o;
  o.compactor_enabled = false;  // tests compact explicitly
  o.batch_window_ms = 0;
  o.gc_grace_ms = 0;
  o.orphan_min_age_ms = 0;
  o.index_tuning.posting_target = 16;
  o.index_tuning.split_limit = 32;
  return o;
}

std::vector<float> RandomVector(std::mt19937_64* rng, size_t dims) {
  std::normal_distribution<float> g(0, 1);
  std::vector<float> v(dims);
  for (float& x : v) x = g(*rng);
  return v;
}

// `n` typed rows "p{i}" (string ids) with `dims` dimensions and one attribute.
WriteRequest Rows(const std::string& prefix, int n, size_t dims, const json& attr,
                  std::mt19937_64* rng) {
  WriteRequest w;
  w.typed = true;
  for (int i = 0; i < n; ++i) {
    w.upsert_rows.push_back({prefix + std::to_string(i), RandomVector(rng, dims), {{"a", attr}}});
  }
  return w;
}

// Ids of every document, by id.
std::set<std::string> AllIds(Database* db, const std::string& ns) {
  QueryRequest q;
  q.top_k = 100000;
  auto r = db->MatchingDocuments(ns);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  std::set<std::string> ids;
  if (r.ok()) {
    for (const auto& h : r->hits) ids.insert(h.id);
  }
  return ids;
}

std::set<std::string> Listed(Database* db) {
  auto names = db->ListNamespaces();
  EXPECT_TRUE(names.ok()) << names.status().ToString();
  return names.ok() ? std::set<std::string>(names->begin(), names->end()) : std::set<std::string>{};
}

Manifest StoredManifest(ObjectStore* store, const std::string& ns) {
  auto got = store->Get(ManifestKey("", ns));
  EXPECT_TRUE(got.ok()) << got.status().ToString();
  if (!got.ok()) return {};
  auto m = DecodeManifest(got->data);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  return m.ok() ? *m : Manifest{};
}

std::set<std::string> IndexObjects(ObjectStore* store, const std::string& ns) {
  auto objects = ListAll(store, IndexPrefix("", ns));
  EXPECT_TRUE(objects.ok());
  std::set<std::string> keys;
  if (objects.ok()) {
    for (const auto& o : *objects) keys.insert(o.key);
  }
  return keys;
}

void ExpectNotFound(Database* db, const std::string& ns) {
  QueryRequest q;
  q.top_k = 5;
  EXPECT_EQ(db->Query(ns, q).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db->Metadata(ns).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db->MatchingDocuments(ns).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db->UpdateSchema(ns, {{"x", {"int"}}}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(db->DeleteNamespace(ns).code(), StatusCode::kNotFound);
  EXPECT_FALSE(Listed(db).count(ns));
}

TEST(DropNamespaceTest, DeletesEverythingAndALaterWriteStartsOver) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  std::mt19937_64 rng(1);
  std::set<std::string> index_before;
  uint64_t drop_seq = 0;
  {
    Database db(store.get(), Options());
    ASSERT_TRUE(db.Write("ns", Rows("old", 300, 8, "text", &rng)).ok());
    ASSERT_TRUE(db.Write("other", Rows("o", 3, 8, "text", &rng)).ok());
    ASSERT_TRUE(db.Compact("ns").ok());
    ASSERT_TRUE(db.Write("ns", Rows("tail", 5, 8, "text", &rng)).ok());  // unindexed
    index_before = IndexObjects(store.get(), "ns");
    ASSERT_FALSE(index_before.empty());
    EXPECT_EQ(Listed(&db), (std::set<std::string>{"ns", "other"}));

    ASSERT_TRUE(db.DeleteNamespace("ns").ok());
    ExpectNotFound(&db, "ns");
    EXPECT_EQ(Listed(&db), (std::set<std::string>{"other"}));
    EXPECT_EQ(AllIds(&db, "other").size(), 3u);  // other namespaces untouched
    const Manifest m = StoredManifest(store.get(), "ns");
    drop_seq = m.dropped_seq;
    EXPECT_GT(drop_seq, 0u);
    EXPECT_TRUE(m.deleted());
    EXPECT_EQ(m.dimensions, 0u);
    EXPECT_TRUE(m.schema.empty());
    EXPECT_TRUE(m.index.metas.empty());
    EXPECT_EQ(m.index.indexed_through_seq, drop_seq);
  }
  // A new process sees it deleted too.
  {
    Database db(store.get(), Options());
    ExpectNotFound(&db, "ns");
    // A write starts a new namespace: other dimensions, metric and attribute types.
    WriteRequest w = Rows("new", 40, 3, 7, &rng);
    w.distance_metric = DistanceMetric::kEuclideanSquared;
    auto r = db.Write("ns", std::move(w));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->upserted_count, 40u);
    auto md = db.Metadata("ns");
    ASSERT_TRUE(md.ok()) << md.status().ToString();
    EXPECT_EQ(md->dimensions, 3u);
    EXPECT_EQ(md->distance_metric, DistanceMetric::kEuclideanSquared);
    EXPECT_EQ(md->approx_row_count, 40u);
    EXPECT_EQ(md->schema.at("a").type, "int");
    EXPECT_TRUE(Listed(&db).count("ns"));
    std::set<std::string> ids = AllIds(&db, "ns");
    EXPECT_EQ(ids.size(), 40u);
    EXPECT_EQ(*ids.begin(), "new0");
    // Indexed, then the compactor's passes erase the old index and the WAL before the drop.
    ASSERT_TRUE(db.Compact("ns").ok());
    ASSERT_TRUE(db.Compact("ns").ok());
    EXPECT_EQ(AllIds(&db, "ns"), ids);
    QueryRequest q;
    q.vector = {0.5f, 0.5f, 0.5f};
    q.top_k = 40;
    auto hits = db.Query("ns", q);
    ASSERT_TRUE(hits.ok()) << hits.status().ToString();
    EXPECT_EQ(hits->hits.size(), 40u);
  }
  for (const std::string& key : IndexObjects(store.get(), "ns")) {
    EXPECT_FALSE(index_before.count(key)) << "index object of the deleted namespace: " << key;
  }
  const Manifest m = StoredManifest(store.get(), "ns");
  EXPECT_EQ(m.wal_erased_below, drop_seq);
  for (uint64_t seq = 1; seq < drop_seq; ++seq) {
    auto got = store->Get(WalKey("", "ns", seq));
    ASSERT_TRUE(got.ok()) << "WAL entries are overwritten, never deleted: " << seq;
    auto entry = DecodeWalEntry(got->data, seq);
    ASSERT_TRUE(entry.ok()) << entry.status().ToString();
    EXPECT_TRUE(entry->requests.empty()) << "WAL entry " << seq << " still holds data";
  }
  // And a restart still serves exactly the new namespace.
  Database db(store.get(), Options());
  EXPECT_EQ(AllIds(&db, "ns").size(), 40u);
  EXPECT_EQ(db.Metadata("ns")->dimensions, 3u);
}

// A typed write checked against the namespace before a drop it has not seen yet: the types
// and dimensions it would fix belong to the new namespace only if it lands there.
TEST(DropNamespaceTest, AStaleWriteNeverTypesTheNewNamespaceUnlessItLandsInIt) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  std::mt19937_64 rng(5);
  Database a(store.get(), Options());
  Database b(store.get(), Options());
  ASSERT_TRUE(a.Write("ns", Rows("old", 3, 8, "text", &rng)).ok());
  ASSERT_TRUE(b.Metadata("ns").ok());
  ASSERT_TRUE(a.DeleteNamespace("ns").ok());
  // b's view has 8 dimensions and a:string; its new attribute z must be typed in the
  // manifest, where b finds the drop, catches up and writes to the new namespace.
  WriteRequest w = Rows("b", 1, 8, "text", &rng);
  w.upsert_rows[0].attributes["z"] = 5;
  auto r = b.Write("ns", std::move(w));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  auto md = a.Metadata("ns");
  ASSERT_TRUE(md.ok()) << md.status().ToString();
  EXPECT_EQ(md->schema.at("z").type, "int");
  EXPECT_EQ(AllIds(&a, "ns"), (std::set<std::string>{"b0"}));
  // A schema declaration checked before a drop is NotFound, not applied to what follows.
  ASSERT_TRUE(a.DeleteNamespace("ns").ok());
  EXPECT_EQ(b.UpdateSchema("ns", {{"q", {"int"}}}).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(StoredManifest(store.get(), "ns").schema.empty());
  ASSERT_TRUE(a.Write("ns", Rows("n", 1, 2, 1, &rng)).ok());
  EXPECT_EQ(a.Metadata("ns")->dimensions, 2u);
}

TEST(DropNamespaceTest, DeletingAnAbsentNamespaceIsNotFound) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  Database db(store.get(), Options());
  EXPECT_EQ(db.DeleteNamespace("never").code(), StatusCode::kNotFound);
  EXPECT_EQ(db.DeleteNamespace("../x").code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Listed(&db).empty());
}

TEST(DropNamespaceTest, AWriterInAnotherProcessSeesTheDrop) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  std::mt19937_64 rng(2);
  Database a(store.get(), Options());
  Database b(store.get(), Options());
  ASSERT_TRUE(a.Write("ns", Rows("old", 20, 8, "text", &rng)).ok());
  ASSERT_TRUE(b.Metadata("ns").ok());  // b has the namespace open, with 8 dimensions
  ASSERT_TRUE(a.DeleteNamespace("ns").ok());

  // Other dimensions: b looks at the log before refusing, finds the drop, and writes to the
  // new namespace.
  auto r = b.Write("ns", Rows("b", 2, 4, 1, &rng));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(AllIds(&a, "ns"), (std::set<std::string>{"b0", "b1"}));
  EXPECT_EQ(a.Metadata("ns")->dimensions, 4u);

  // A write checked against the old namespace whose entry would follow a drop fails, with
  // nothing written; the retry writes to the new namespace.
  ASSERT_TRUE(a.DeleteNamespace("ns").ok());
  r = b.Write("ns", Rows("c", 1, 4, 1, &rng));
  ASSERT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().ToString();
  EXPECT_NE(r.status().message().find("deleted while this write was in flight"), std::string::npos);
  // Nothing of it reached the manifest either: the next write may pick anything.
  Manifest m = StoredManifest(store.get(), "ns");
  EXPECT_TRUE(m.deleted());
  EXPECT_EQ(m.dimensions, 0u);
  EXPECT_TRUE(m.schema.empty());
  ExpectNotFound(&a, "ns");
  r = b.Write("ns", Rows("c", 1, 4, "s", &rng));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(AllIds(&a, "ns"), (std::set<std::string>{"c0"}));
  EXPECT_EQ(a.Metadata("ns")->schema.at("a").type, "string");
}

// The dropper died after its WAL put, before resetting the manifest: whoever applies the drop
// next resets it.
TEST(DropNamespaceTest, ADropWhoseManifestResetWasLostIsCompletedByTheNextReader) {
  std::unique_ptr<ObjectStore> store = NewMemoryStore();
  std::mt19937_64 rng(3);
  uint64_t next = 0;
  {
    Database db(store.get(), Options());
    ASSERT_TRUE(db.Write("ns", Rows("old", 100, 8, "text", &rng)).ok());
    ASSERT_TRUE(db.Compact("ns").ok());
    ASSERT_TRUE(db.Write("ns", Rows("tail", 3, 8, "text", &rng)).ok());
    next = (*db.TestOnlyNamespace("ns"))->dropped_seq();
    EXPECT_EQ(next, 0u);
  }
  // The log's end: the first absent entry.
  for (next = 1; store->Get(WalKey("", "ns", next)).ok(); ++next) {
  }
  PutOptions create;
  create.mode = PutMode::kCreateOnly;
  ASSERT_TRUE(store
                  ->Put(WalKey("", "ns", next),
                        FrameWalEntry(next, 1, 99, EncodeWalPayload({DropNamespaceRequest()}),
                                      kWalDropFormatVersion),
                        create)
                  .ok());
  EXPECT_FALSE(StoredManifest(store.get(), "ns").deleted());

  Database db(store.get(), Options());
  // Opening the namespace (any request) applies the drop and resets the manifest.
  EXPECT_EQ(db.Metadata("ns", Consistency::kEventual).status().code(), StatusCode::kNotFound);
  Manifest m = StoredManifest(store.get(), "ns");
  EXPECT_EQ(m.dropped_seq, next);
  EXPECT_TRUE(m.deleted());
  EXPECT_FALSE(Listed(&db).count("ns"));
  ExpectNotFound(&db, "ns");
  auto r = db.Write("ns", Rows("new", 2, 5, 1, &rng));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(AllIds(&db, "ns"), (std::set<std::string>{"new0", "new1"}));
}

// A compaction in flight while another process drops the namespace never brings the
// deleted documents back, whether the drop's manifest reset comes before its commit or not.
TEST(DropNamespaceTest, ACompactionRacingADropCannotResurrectDocuments) {
  for (bool reset : {true, false}) {
    SCOPED_TRACE(reset ? "dropper resets the manifest" : "dropper dies before the reset");
    std::unique_ptr<ObjectStore> store = NewMemoryStore();
    std::mt19937_64 rng(4);
    Database a(store.get(), Options());
    Database b(store.get(), Options());
    ASSERT_TRUE(a.Write("ns", Rows("old", 200, 8, "text", &rng)).ok());
    auto n = a.TestOnlyNamespace("ns");
    ASSERT_TRUE(n.ok());
    (*n)->compaction_hook = [&](std::string_view at) {
      if (at != "meta_written") return Status::OK();
      if (reset) return b.DeleteNamespace("ns");
      uint64_t next = 1;
      while (store->Get(WalKey("", "ns", next)).ok()) ++next;
      PutOptions create;
      create.mode = PutMode::kCreateOnly;
      return store
          ->Put(WalKey("", "ns", next),
                FrameWalEntry(next, 1, 99, EncodeWalPayload({DropNamespaceRequest()}),
                              kWalDropFormatVersion),
                create)
          .status();
    };
    Status s = a.Compact("ns");
    (*n)->compaction_hook = nullptr;
    ASSERT_TRUE(s.ok()) << s.ToString();
    ExpectNotFound(&a, "ns");
    ExpectNotFound(&b, "ns");
    ASSERT_TRUE(a.Write("ns", Rows("new", 30, 8, 1, &rng)).ok());
    ASSERT_TRUE(a.Compact("ns").ok());
    ASSERT_TRUE(a.Compact("ns").ok());
    const std::set<std::string> expected = AllIds(&a, "ns");
    EXPECT_EQ(expected.size(), 30u);
    EXPECT_EQ(*expected.begin(), "new0");
    EXPECT_EQ(AllIds(&b, "ns"), expected);
    Database c(store.get(), Options());
    EXPECT_EQ(AllIds(&c, "ns"), expected);
    auto md = c.Metadata("ns");
    ASSERT_TRUE(md.ok());
    EXPECT_EQ(md->indexed_row_count, 30u);
  }
}

}  // namespace
}  // namespace vecpuff
