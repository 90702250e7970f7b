// Helpers shared by the config tests: a fixture that runs each test in a fresh working
// directory (so that a ./config.toml lying around never leaks in), argv building, and the
// location of the repository's config.toml and docs.
//
// Thread safety: the fixture changes the process working directory; tests using it must not
// run concurrently in one process (gtest runs tests sequentially).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/config.h"
#include "test_util.h"

namespace vecpuff::testing {

// The repository root, found from this file's path (tests/config/config_test_util.h).
inline std::filesystem::path RepoRoot() {
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

inline std::string ReadFileOrDie(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.is_open()) << "cannot open " << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_cwd_ = std::filesystem::current_path();
    std::filesystem::current_path(dir_.path());
  }
  void TearDown() override { std::filesystem::current_path(old_cwd_); }

  // Writes `contents` to `name` in the scratch directory; returns its absolute path.
  std::string WriteFile(const std::string& name, const std::string& contents) {
    const std::string path = dir_.path() + "/" + name;
    std::ofstream(path, std::ios::binary) << contents;
    return path;
  }

  // LoadOptions with argv = {"vecpuff", args...}.
  static Result<LoadedOptions> Load(const std::vector<std::string>& args,
                                    const Environment& env = {}) {
    std::vector<const char*> argv = {"vecpuff"};
    for (const std::string& arg : args) argv.push_back(arg.c_str());
    return LoadOptions(static_cast<int>(argv.size()), argv.data(), env);
  }

  ScratchDir dir_;
  std::filesystem::path old_cwd_;
};

}  // namespace vecpuff::testing
