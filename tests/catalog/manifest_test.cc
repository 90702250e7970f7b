#include "catalog/manifest.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "catalog/layout.h"
#include "common/coding.h"
#include "common/hash.h"

namespace vecpuff {
namespace {

// A manifest object around `body`, framed and checksummed validly.
std::string Frame(const std::string& body) {
  std::string object;
  PutFixed32(&object, kManifestMagic);
  PutFixed16(&object, kManifestFormatVersion);
  PutFixed16(&object, 0);
  PutFixed64(&object, body.size());
  PutFixed64(&object, 0);
  object += body;
  EncodeFixed64(object.data() + 16, Checksum64(object));
  return object;
}

TEST(Manifest, RoundTrip) {
  Manifest m;
  m.namespace_name = "docs.v2";
  m.distance_metric = DistanceMetric::kEuclideanSquared;
  m.dimensions = 784;
  m.created_at_ms = 1700000000000;
  m.updated_at_ms = 1700000000123;
  m.last_write_ms = 1700000000100;
  m.wal_next_seq_hint = 65;
  auto d = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->namespace_name, m.namespace_name);
  EXPECT_EQ(d->distance_metric, m.distance_metric);
  EXPECT_EQ(d->dimensions, 784u);
  EXPECT_EQ(d->created_at_ms, m.created_at_ms);
  EXPECT_EQ(d->updated_at_ms, m.updated_at_ms);
  EXPECT_EQ(d->last_write_ms, m.last_write_ms);
  EXPECT_EQ(d->wal_next_seq_hint, 65u);
}

// last_write_ms is optional: a manifest from before it reads its last change as its last
// write. Present, it must be an integer.
TEST(Manifest, LastWriteDefaultsToTheLastChangeAndIsValidated) {
  nlohmann::json body = {{"namespace", "old"},    {"distance_metric", "cosine_distance"},
                         {"dimensions", 2},       {"created_at_ms", 1000},
                         {"updated_at_ms", 5000}, {"wal_next_seq_hint", 1}};
  auto d = DecodeManifest(Frame(body.dump()));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->last_write_ms, 5000);
  body["last_write_ms"] = 4000;
  d = DecodeManifest(Frame(body.dump()));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->last_write_ms, 4000);
  body["last_write_ms"] = "4000";
  d = DecodeManifest(Frame(body.dump()));
  ASSERT_FALSE(d.ok());
  EXPECT_TRUE(d.status().IsCorruption());
  EXPECT_EQ(d.status().message(), "manifest last_write_ms is not an integer");
}

TEST(Manifest, SchemaRoundTripsAndAMalformedOneIsCorruption) {
  Manifest m;
  m.namespace_name = "typed";
  m.schema["id"] = {"uint", true, false};
  m.schema["name"] = {"string", false, true};
  m.schema["at"] = {"datetime", true, false};
  auto d = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->schema, m.schema);
  // A body whose schema entry lacks an option, framed validly: Corruption.
  std::string text = EncodeManifest(m).substr(kManifestHeaderSize);
  const std::string from = "\"filterable\":false,";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "");
  auto bad = DecodeManifest(Frame(text));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "manifest schema is malformed");
}

TEST(Manifest, EveryFlippedByteIsDetected) {
  Manifest m;
  m.namespace_name = "n";
  std::string object = EncodeManifest(m);
  for (size_t i = 0; i < object.size(); ++i) {
    std::string bad = object;
    bad[i] ^= 0x21;
    auto d = DecodeManifest(bad);
    ASSERT_FALSE(d.ok()) << "flip at " << i;
    EXPECT_TRUE(d.status().IsCorruption());
  }
}

TEST(Manifest, TruncationIsCorruption) {
  std::string object = EncodeManifest(Manifest{});
  for (size_t len = 0; len < object.size(); len += 7) {
    EXPECT_TRUE(DecodeManifest(object.substr(0, len)).status().IsCorruption()) << len;
  }
}

TEST(Manifest, DropResetRoundTripsAndIsValidated) {
  Manifest m;
  m.namespace_name = "ns";
  m.dimensions = 8;
  m.schema["a"] = {"int", true, false};
  m.index.generation = 3;
  m.index.indexed_through_seq = 5;
  m.index.metas = {"k1", "k2"};
  m.index.live_rows = 10;
  ResetManifestForDrop(&m, 9, 1234);
  EXPECT_EQ(m.dimensions, 0u);
  EXPECT_TRUE(m.schema.empty());
  EXPECT_TRUE(m.deleted());
  EXPECT_EQ(m.index.generation, 4u);
  EXPECT_EQ(m.index.indexed_through_seq, 9u);
  EXPECT_TRUE(m.index.metas.empty());
  EXPECT_EQ(m.index.retired.size(), 2u);
  EXPECT_EQ(m.index.live_rows, 0u);
  EXPECT_EQ(m.wal_next_seq_hint, 10u);
  m.wal_erased_below = 4;
  auto d = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->dropped_seq, 9u);
  EXPECT_FALSE(d->reopened);
  EXPECT_EQ(d->wal_erased_below, 4u);
  EXPECT_TRUE(d->index.metas.empty());
  m.reopened = true;
  EXPECT_FALSE(m.deleted());
  d = DecodeManifest(EncodeManifest(m));
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->reopened);

  // A malformed "dropped" object, or one claiming an index that is not past the drop.
  auto corrupt_with = [&](const std::function<void(nlohmann::json*)>& edit) {
    std::string object = EncodeManifest(m);
    nlohmann::json body = nlohmann::json::parse(object.substr(kManifestHeaderSize));
    edit(&body);
    std::string text = body.dump();
    std::string out = object.substr(0, kManifestHeaderSize) + text;
    EncodeFixed64(out.data() + 8, text.size());
    EncodeFixed64(out.data() + 16, 0);
    EncodeFixed64(out.data() + 16, Checksum64(out));
    return DecodeManifest(out).status();
  };
  EXPECT_TRUE(corrupt_with([](nlohmann::json* b) { (*b)["dropped"]["seq"] = 0; }).IsCorruption());
  EXPECT_TRUE(
      corrupt_with([](nlohmann::json* b) { (*b)["dropped"]["reopened"] = 1; }).IsCorruption());
  EXPECT_TRUE(corrupt_with([](nlohmann::json* b) {
                (*b)["dropped"]["wal_erased_below"] = 10;
              }).IsCorruption());
  EXPECT_TRUE(corrupt_with([](nlohmann::json* b) {
                (*b)["index"]["indexed_through_seq"] = 8;
              }).IsCorruption());
  EXPECT_TRUE(corrupt_with([](nlohmann::json*) {}).ok());
}

TEST(Manifest, MetricNames) {
  EXPECT_EQ(ParseDistanceMetric("cosine_distance"), DistanceMetric::kCosineDistance);
  EXPECT_EQ(ParseDistanceMetric("euclidean_squared"), DistanceMetric::kEuclideanSquared);
  EXPECT_FALSE(ParseDistanceMetric("dot_product").has_value());
  EXPECT_EQ(DistanceMetricName(DistanceMetric::kEuclideanSquared), "euclidean_squared");
}

TEST(Layout, WalKeysSortInSequenceOrder) {
  EXPECT_EQ(WalKey("p/", "ns", 1), "p/namespaces/ns/wal/00000000000000000001");
  EXPECT_LT(WalKey("", "ns", 9), WalKey("", "ns", 10));
  EXPECT_LT(WalKey("", "ns", 99999), WalKey("", "ns", 100000));
  EXPECT_EQ(ManifestKey("", "ns"), "namespaces/ns/manifest");
}

}  // namespace
}  // namespace vecpuff
