// attribute_index_bench: judging a filter over one posting list with an AttributeIndex
// against calling Filter::Matches entry by entry (what Namespace::FilterMask did), and what
// building the index costs. Synthetic postings of 100 and 1000 entries whose attributes look
// like a typical document: an integer "n" (0..999 999), a float "score", a string
// "category" (one of 50), a "tags" array (2-4 of 20 tags), a datetime "ts" and a longer
// "title" string.
//
//   attribute_index_bench [--repeats N]
//
// Single thread; each figure is the median over the repeats of the mean time per call.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <vector>

#include "query/attribute_index.h"
#include "query/filter.h"

namespace {

using json = nlohmann::json;

std::vector<json> Posting(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto uniform = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  std::vector<json> out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    json tags = json::array();
    for (int k = uniform(2, 4); k > 0; --k) tags.push_back("tag" + std::to_string(uniform(0, 19)));
    char ts[32];
    std::snprintf(ts, sizeof(ts), "2024-%02d-%02dT%02d:%02d:00Z", uniform(1, 12), uniform(1, 28),
                  uniform(0, 23), uniform(0, 59));
    out.push_back({{"n", uniform(0, 999999)},
                   {"score", uniform(0, 1000000) / 1000.0},
                   {"category", "category-" + std::to_string(uniform(0, 49))},
                   {"tags", tags},
                   {"ts", ts},
                   {"title", "a somewhat longer title string, number " + std::to_string(i)}});
  }
  return out;
}

// Median over `repeats` runs of the mean seconds per call of fn, each run at least ~20 ms.
double Time(int repeats, const std::function<void()>& fn) {
  std::vector<double> runs;
  for (int r = 0; r < repeats; ++r) {
    int calls = 0;
    const auto start = std::chrono::steady_clock::now();
    double elapsed = 0;
    do {
      fn();
      ++calls;
      elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (elapsed < 0.02);
    runs.push_back(elapsed / calls);
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int repeats = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--repeats") == 0) repeats = std::max(1, std::atoi(argv[i + 1]));
  }
  const std::vector<std::pair<const char*, const char*>> filters = {
      {"Lt 0.1%", R"(["n", "Lt", 1000])"},
      {"Lt 10%", R"(["n", "Lt", 100000])"},
      {"Eq string", R"(["category", "Eq", "category-17"])"},
      {"In 3 strings", R"(["category", "In", ["category-1", "category-2", "category-3"]])"},
      {"Contains", R"(["tags", "Contains", "tag7"])"},
      {"And Lt+Eq", R"(["And", [["n", "Lt", 500000], ["category", "Eq", "category-17"]]])"},
      {"NotEq", R"(["category", "NotEq", "category-17"])"},
      {"Gte datetime", R"(["ts", "Gte", "2024-12-01T00:00:00+01:00"])"},
      {"Glob", R"(["category", "Glob", "category-1*"])"},
      {"Regex title", R"(["title", "Regex", "number 4[0-9]$"])"},
  };
  std::printf("%-6s %-14s %12s %12s %9s %9s\n", "size", "filter", "per-entry us", "index us",
              "speedup", "matches");
  for (size_t n : {size_t{100}, size_t{1000}}) {
    const std::vector<json> attributes = Posting(n, 42 + n);
    // For scale: what loading the posting already costs per entry, parsing its attributes.
    std::vector<std::string> texts;
    for (const json& a : attributes) texts.push_back(a.dump());
    std::vector<json> parsed(n);
    const double parse_s = Time(repeats, [&] {
      for (size_t i = 0; i < n; ++i) parsed[i] = json::parse(texts[i]);
    });
    std::unique_ptr<const vecpuff::AttributeIndex> index;
    const double build_s =
        Time(repeats, [&] { index = vecpuff::AttributeIndex::Build(attributes); });
    std::printf(
        "%-6zu build: %.1f us (%.0f ns/entry; parsing the attributes: %.0f ns/entry), "
        "%zu bytes (%.0f B/entry)\n",
        n, build_s * 1e6, build_s * 1e9 / static_cast<double>(n),
        parse_s * 1e9 / static_cast<double>(n), index->MemoryBytes(),
        static_cast<double>(index->MemoryBytes()) / static_cast<double>(n));
    for (const auto& [name, text] : filters) {
      auto parsed = vecpuff::Filter::Parse(json::parse(text));
      if (!parsed.ok()) {
        std::fprintf(stderr, "%s: %s\n", text, parsed.status().ToString().c_str());
        return 1;
      }
      const vecpuff::Filter& f = **parsed;
      static const json kNoId;
      std::vector<uint8_t> want(n), got;
      const double scan_s = Time(repeats, [&] {
        for (size_t i = 0; i < n; ++i) want[i] = f.Matches(kNoId, attributes[i]) ? 1 : 0;
      });
      const double index_s = Time(repeats, [&] {
        if (!index->Matches(f, &got)) std::abort();
      });
      if (got != want) {
        std::fprintf(stderr, "%s: the index disagrees with Filter::Matches\n", name);
        return 1;
      }
      std::printf("%-6zu %-14s %12.2f %12.2f %8.1fx %9zu\n", n, name, scan_s * 1e6, index_s * 1e6,
                  scan_s / index_s, static_cast<size_t>(std::count(got.begin(), got.end(), 1)));
    }
  }
  return 0;
}
