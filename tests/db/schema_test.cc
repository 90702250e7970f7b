// Attribute types of turbopuffer API (typed) writes: inference from the first values,
// declarations, enforcement, normalization, id types, and two databases racing to type one
// attribute.
#include <gtest/gtest.h>

#include "db/database.h"
#include "db/doc_key.h"
#include "storage/memory_store.h"

namespace vecpuff {
namespace {

using nlohmann::json;

DbOptions Options() {
  DbOptions o;
  o.compactor_enabled = false;
  o.batch_window_ms = 0;
  return o;
}

WriteRequest Typed(std::vector<UpsertRow> rows) {
  WriteRequest w;
  w.typed = true;
  w.upsert_rows = std::move(rows);
  return w;
}

class SchemaTest : public ::testing::Test {
 protected:
  std::map<std::string, std::string> Types() {
    auto md = db_.Metadata("ns");
    EXPECT_TRUE(md.ok()) << md.status().ToString();
    std::map<std::string, std::string> t;
    if (md.ok()) {
      for (const auto& [k, a] : md->schema) t[k] = a.type;
    }
    return t;
  }
  std::unique_ptr<ObjectStore> store_ = NewMemoryStore();
  Database db_{store_.get(), Options()};
};

TEST_F(SchemaTest, FirstValuesFixTypesAndLaterValuesMustFit) {
  auto r = db_.Write("ns", Typed({{U64Key(1),
                                   {1, 0},
                                   {{"name", "a"},
                                    {"n", 3},
                                    {"x", 1.5},
                                    {"ok", true},
                                    {"tags", {"t"}},
                                    {"empty", json::array()},
                                    {"none", nullptr}}}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Types(), (std::map<std::string, std::string>{{"id", "uint"},
                                                         {"name", "string"},
                                                         {"n", "int"},
                                                         {"x", "float"},
                                                         {"ok", "bool"},
                                                         {"tags", "[]string"}}));
  auto expect_error = [&](WriteRequest w, const std::string& message) {
    auto res = db_.Write("ns", std::move(w));
    ASSERT_FALSE(res.ok());
    EXPECT_EQ(res.status().message(), message);
  };
  expect_error(Typed({{U64Key(2), {1, 0}, {{"n", "three"}}}}),
               "upsert_rows[0].n: expected int (the attribute's type), got a string");
  expect_error(Typed({{U64Key(2), {1, 0}, {{"tags", {1}}}}}),
               "upsert_rows[0].tags: expected []string (the attribute's type), got an array (or "
               "one with elements of another type)");
  expect_error(Typed({{"two", {1, 0}, {}}}),
               "upsert_rows[0].id: the namespace's ids are uint ids; this one is a string id");
  WriteRequest patch;
  patch.typed = true;
  patch.patch_rows.push_back({U64Key(1), {{"ok", "yes"}}});
  expect_error(std::move(patch),
               "patch_rows[0].ok: expected bool (the attribute's type), got a string");
  // Ints fit floats (stored as floats); nothing of the rejected requests was written.
  r = db_.Write("ns", Typed({{U64Key(3), {1, 0}, {{"x", 2}, {"empty", {7}}}}}));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(Types()["empty"], "[]int");
  QueryRequest q;
  q.order_by = {{"id", false}};
  auto all = db_.Query("ns", q);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->hits.size(), 2u);
  EXPECT_TRUE(all->hits[1].attributes["x"].is_number_float());
  EXPECT_EQ(all->hits[1].attributes["x"], 2.0);
}

TEST_F(SchemaTest, DeclaredTypesNormalizeDatetimesAndUuids) {
  WriteRequest w = Typed(
      {{U64Key(1),
        {1, 0},
        {{"at", "2024-03-01T13:00:00.5+01:00"}, {"ref", "0E8F3B2A-1C4D-4E5F-8A9B-0C1D2E3F4A5B"}}},
       {U64Key(2), {1, 0}, {{"at", "2024-03-01T12:00:00Z"}}}});
  w.schema["at"] = {"datetime", true, false};
  w.schema["ref"] = {"uuid", false, false};
  auto r = db_.Write("ns", std::move(w));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  QueryRequest q;
  q.order_by = {{"at", true}};
  auto got = db_.Query("ns", q);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->hits.size(), 2u);
  // Canonical UTC milliseconds: byte order is time order (12:00:00.500 after 12:00:00).
  EXPECT_EQ(got->hits[0].attributes["at"], "2024-03-01T12:00:00.500Z");
  EXPECT_EQ(got->hits[1].attributes["at"], "2024-03-01T12:00:00.000Z");
  EXPECT_EQ(got->hits[0].attributes["ref"], "0e8f3b2a-1c4d-4e5f-8a9b-0c1d2e3f4a5b");
  auto md = db_.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_FALSE(md->schema.at("ref").filterable);
  // Not a datetime, not a UUID.
  r = db_.Write("ns", Typed({{U64Key(3), {1, 0}, {{"at", "yesterday"}}}}));
  EXPECT_FALSE(r.ok());
  r = db_.Write("ns", Typed({{U64Key(3), {1, 0}, {{"ref", "not-a-uuid"}}}}));
  EXPECT_FALSE(r.ok());
}

TEST_F(SchemaTest, UpdateSchemaChangesOptionsButNeverTypes) {
  ASSERT_TRUE(db_.Write("ns", Typed({{U64Key(1), {1, 0}, {{"name", "a"}}}})).ok());
  auto s = db_.UpdateSchema("ns", {{"name", {"string", false, true}}, {"when", {"datetime"}}});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->at("name"), (AttributeSchema{"string", false, true}));
  EXPECT_EQ(s->at("when").type, "datetime");
  s = db_.UpdateSchema("ns", {{"name", {"int"}}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "schema.name: the attribute's type is string; it cannot change to int");
  // A declared attribute no document has yet is enforced.
  auto r = db_.Write("ns", Typed({{U64Key(2), {1, 0}, {{"when", 5}}}}));
  EXPECT_FALSE(r.ok());
  // Types survive a restart (they are in the manifest).
  Database again(store_.get(), Options());
  auto md = again.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->schema.at("when").type, "datetime");
  EXPECT_FALSE(md->schema.at("name").filterable);
}

TEST_F(SchemaTest, TwoDatabasesRacingToTypeAnAttributeAgreeOnOneType) {
  Database other(store_.get(), Options());
  ASSERT_TRUE(db_.Write("ns", Typed({{U64Key(1), {1, 0}, {}}})).ok());
  Result<WriteResult> a = Status::OK(), b = Status::OK();
  std::thread ta([&] { a = db_.Write("ns", Typed({{U64Key(2), {1, 0}, {{"v", 1}}}})); });
  std::thread tb([&] { b = other.Write("ns", Typed({{U64Key(3), {1, 0}, {{"v", "one"}}}})); });
  ta.join();
  tb.join();
  // Exactly one wins the type; the other is rejected and wrote nothing.
  EXPECT_NE(a.ok(), b.ok());
  const std::string type = a.ok() ? "int" : "string";
  auto md = other.Metadata("ns");
  ASSERT_TRUE(md.ok());
  EXPECT_EQ(md->schema.at("v").type, type);
  QueryRequest q;
  q.order_by = {{"id", false}};
  auto all = db_.Query("ns", q);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->hits.size(), 2u);
}

TEST_F(SchemaTest, UntypedWritesAreNotChecked) {
  ASSERT_TRUE(db_.Write("ns", Typed({{U64Key(1), {1, 0}, {{"n", 1}}}})).ok());
  WriteRequest w;  // the original API's
  w.upsert_rows.push_back({"s", {1, 0}, {{"n", "x"}}});
  EXPECT_TRUE(db_.Write("ns", std::move(w)).ok());
}

}  // namespace
}  // namespace vecpuff
