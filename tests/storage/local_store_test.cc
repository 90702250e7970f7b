// LocalStore beyond the shared contract: safety across processes (fork), atomic
// replacement under concurrent readers, invisibility of temp files and empty directories,
// the on-disk layout, and persistence across reopen.

#include "storage/local_store.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_util.h"

namespace vecpuff {
namespace {

namespace fs = std::filesystem;

class LocalStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.path() + "/root";
    Reopen();
  }

  void Reopen() {
    store_.reset();
    Result<std::unique_ptr<ObjectStore>> r = OpenLocalStore(root_);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    store_ = std::move(r).value();
  }

  ObjectMeta MustPut(const std::string& key, const std::string& data,
                     PutMode mode = PutMode::kOverwrite) {
    Result<ObjectMeta> r = store_->Put(key, data, PutOptions{mode, ""});
    EXPECT_TRUE(r.ok()) << key << ": " << r.status().ToString();
    return r.ok() ? r.value() : ObjectMeta{};
  }

  std::vector<std::string> Keys(const std::string& prefix = "") {
    Result<std::vector<ObjectMeta>> all = ListAll(store_.get(), prefix);
    EXPECT_TRUE(all.ok()) << all.status().ToString();
    std::vector<std::string> keys;
    if (all.ok()) {
      for (const ObjectMeta& m : all.value()) keys.push_back(m.key);
    }
    return keys;
  }

  // Runs `body(i)` in `n` child processes that start together; returns true if every child
  // exited with status 0. Children report through the store, not through gtest.
  template <typename Body>
  bool RunChildren(int n, Body body) {
    int go[2];
    if (::pipe(go) != 0) return false;
    std::vector<pid_t> pids;
    for (int i = 0; i < n; ++i) {
      const pid_t pid = ::fork();
      if (pid < 0) return false;
      if (pid == 0) {
        ::close(go[1]);
        char c;
        // Blocks until the parent closes its end: every child starts at once.
        while (::read(go[0], &c, 1) < 0 && errno == EINTR) {
        }
        ::_exit(body(i));
      }
      pids.push_back(pid);
    }
    ::close(go[0]);
    ::close(go[1]);
    bool ok = true;
    for (pid_t pid : pids) {
      int status = 0;
      if (::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ok = false;
      }
    }
    return ok;
  }

  testing::ScratchDir dir_;
  std::string root_;
  std::unique_ptr<ObjectStore> store_;
};

TEST_F(LocalStoreTest, CrossProcessCreateOnlyHasExactlyOneWinnerPerKey) {
  constexpr int kProcesses = 6;
  constexpr int kKeys = 25;
  const std::string root = root_;
  ASSERT_TRUE(RunChildren(kProcesses, [&](int child) {
    auto opened = OpenLocalStore(root);
    if (!opened.ok()) return 10;
    ObjectStore* store = opened.value().get();
    std::string won;
    for (int k = 0; k < kKeys; ++k) {
      Result<ObjectMeta> r =
          store->Put("race/" + std::to_string(k), "child-" + std::to_string(child),
                     PutOptions{PutMode::kCreateOnly, ""});
      if (r.ok()) {
        won += std::to_string(k) + ",";
      } else if (!r.status().IsPreconditionFailed()) {
        return 11;
      }
    }
    return store->Put("wins/" + std::to_string(child), won).ok() ? 0 : 12;
  }));

  std::vector<int> winner(kKeys, -1);
  for (int child = 0; child < kProcesses; ++child) {
    Result<GetResult> wins = store_->Get("wins/" + std::to_string(child));
    ASSERT_TRUE(wins.ok()) << wins.status().ToString();
    std::stringstream ss(wins->data);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const int k = std::stoi(item);
      EXPECT_EQ(winner[k], -1) << "key " << k << " won twice";
      winner[k] = child;
    }
  }
  for (int k = 0; k < kKeys; ++k) {
    ASSERT_NE(winner[k], -1) << "key " << k << " has no winner";
    Result<GetResult> got = store_->Get("race/" + std::to_string(k));
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got->data, "child-" + std::to_string(winner[k]));
  }
}

TEST_F(LocalStoreTest, CrossProcessCasCounterIsExact) {
  constexpr int kProcesses = 4;
  constexpr int kIncrements = 100;
  MustPut("counter", "0");
  const std::string root = root_;
  ASSERT_TRUE(RunChildren(kProcesses, [&](int) {
    auto opened = OpenLocalStore(root);
    if (!opened.ok()) return 10;
    ObjectStore* store = opened.value().get();
    for (int i = 0; i < kIncrements;) {
      Result<GetResult> cur = store->Get("counter");
      if (!cur.ok()) return 11;
      Result<ObjectMeta> r = store->Put("counter", std::to_string(std::stoi(cur->data) + 1),
                                        PutOptions{PutMode::kIfMatch, cur->meta.etag});
      if (r.ok()) {
        ++i;
      } else if (!r.status().IsPreconditionFailed()) {
        return 12;
      }
    }
    return 0;
  }));
  Result<GetResult> final_count = store_->Get("counter");
  ASSERT_TRUE(final_count.ok());
  EXPECT_EQ(final_count->data, std::to_string(kProcesses * kIncrements));
}

TEST_F(LocalStoreTest, ReaderNeverSeesPartialOrMixedObject) {
  // Version v has SizeOf(v) bytes, all equal to 'a' + v % 26. A prefix of a version, or a
  // mix of two, breaks one of these properties.
  constexpr int kVersions = 60;
  auto size_of = [](int v) { return (size_t{1} << 20) + static_cast<size_t>(v % 5) * 300'000; };
  auto plausible = [&](const std::string& d) {
    if (d.empty() || d.find_first_not_of(d[0]) != std::string::npos) return false;
    for (int v = d[0] - 'a'; v < kVersions; v += 26) {
      if (d.size() == size_of(v)) return true;
    }
    return false;
  };
  MustPut("big", std::string(size_of(0), 'a'));
  std::atomic<bool> done{false};
  std::atomic<int> bad{0};
  std::atomic<int> reads{0};
  std::thread reader([&] {
    while (!done.load()) {
      Result<GetResult> r = store_->Get("big");
      if (!r.ok() || r->meta.size_bytes != r->data.size() || !plausible(r->data)) ++bad;
      ++reads;
    }
  });
  for (int v = 1; v < kVersions; ++v) {
    MustPut("big", std::string(size_of(v), static_cast<char>('a' + v % 26)));
  }
  while (reads.load() < 20) std::this_thread::yield();
  done = true;
  reader.join();
  EXPECT_EQ(bad.load(), 0) << "of " << reads.load() << " reads";
}

TEST_F(LocalStoreTest, GetReturnsTheEtagOfTheVersionItRead) {
  std::mutex mu;
  std::map<std::string, std::string> content_of_etag;         // from the writer's Put results
  std::vector<std::pair<std::string, std::string>> observed;  // (etag, data) read by Get
  content_of_etag[MustPut("k", "version 0").etag] = "version 0";
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int v = 1; !done.load(); ++v) {
      const std::string data = "version " + std::to_string(v) + std::string(v % 7 * 1000, '.');
      const ObjectMeta m = MustPut("k", data);
      std::lock_guard<std::mutex> lock(mu);
      content_of_etag[m.etag] = data;
    }
  });
  // Read until the writer has replaced the object many times under our feet.
  while (true) {
    Result<GetResult> r = store_->Get("k");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    observed.emplace_back(r->meta.etag, r->data);
    std::lock_guard<std::mutex> lock(mu);
    if (content_of_etag.size() > 100) break;
  }
  done = true;
  writer.join();
  for (const auto& [etag, data] : observed) {
    auto it = content_of_etag.find(etag);
    ASSERT_NE(it, content_of_etag.end()) << "unknown etag " << etag;
    EXPECT_EQ(it->second, data) << "etag " << etag << " returned with another version's bytes";
  }
}

TEST_F(LocalStoreTest, EtagsNeverRepeatAcrossManySameSizeRewrites) {
  // Replaced files free their inode and the filesystem recycles it: the etag must still
  // differ, or a stale If-Match could succeed (ABA).
  std::set<std::string> etags;
  std::set<std::string> inodes;
  for (int i = 0; i < 300; ++i) {
    const ObjectMeta m = MustPut("aba", "same size " + std::to_string(i % 10));
    EXPECT_TRUE(etags.insert(m.etag).second) << "etag repeated at rewrite " << i;
    inodes.insert(m.etag.substr(0, m.etag.find('-')));
  }
  // On filesystems that recycle inodes (ext4, tmpfs) this really exercised reuse.
  RecordProperty("distinct_inodes", static_cast<int>(inodes.size()));
  // Identical content still gets a new etag.
  const ObjectMeta a = MustPut("same", "x");
  const ObjectMeta b = MustPut("same", "x");
  EXPECT_NE(a.etag, b.etag);
}

TEST_F(LocalStoreTest, TempAndLockFilesAreNeverListedOrReadable) {
  MustPut("a/x", "1");
  // A crashed writer leaves temp files, possibly hard-linked to a published object.
  ASSERT_TRUE(std::ofstream(root_ + "/.vp-tmp.1.2.3.dead") << "partial");
  ASSERT_TRUE(std::ofstream(root_ + "/a/.vp-tmp.4.5.6.beef") << "partial");
  ASSERT_EQ(::link((root_ + "/a/.vp-obj.x").c_str(), (root_ + "/a/.vp-tmp.7.8.9.link").c_str()), 0);
  ASSERT_TRUE(fs::exists(root_ + "/.vp-locks"));

  EXPECT_EQ(Keys(), (std::vector<std::string>{"a/x"}));
  ListOptions o;
  o.delimiter = "/";
  Result<ListPage> page = store_->List(o);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->objects.empty());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"a/"}));
  EXPECT_TRUE(Keys(".vp-").empty());
  EXPECT_TRUE(Keys("a/.vp-").empty());
  EXPECT_TRUE(Keys(".vp-locks/").empty());
  EXPECT_TRUE(Keys("a/.vp-obj.x").empty()) << "an object's file name is not its key";
  EXPECT_TRUE(store_->Get(".vp-tmp.1.2.3.dead").status().IsInvalidArgument());
  EXPECT_TRUE(store_->Get("a/.vp-tmp.4.5.6.beef").status().IsInvalidArgument());

  // Concurrent writers' temp files never show up either.
  std::atomic<bool> done{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !done.load(); ++i) MustPut("w/" + std::to_string(t), std::string(4096, 'w'));
    });
  }
  for (int i = 0; i < 200; ++i) {
    for (const std::string& k : Keys("w/")) {
      EXPECT_TRUE(k == "w/0" || k == "w/1" || k == "w/2") << k;
    }
  }
  done = true;
  for (std::thread& w : writers) w.join();
}

TEST_F(LocalStoreTest, EmptyDirectoriesAreNotCommonPrefixes) {
  // Left by a crash between mkdir and publish, or by a Delete that could not prune.
  ASSERT_TRUE(fs::create_directories(root_ + "/empty/deeper/still"));
  ASSERT_TRUE(fs::create_directories(root_ + "/ghost"));
  ASSERT_TRUE(std::ofstream(root_ + "/ghost/.vp-tmp.1.1.1.0") << "crashed writer");
  MustPut("real/obj", "v");
  MustPut("gone/sub/obj", "v");
  ASSERT_TRUE(store_->Delete("gone/sub/obj").ok());
  ASSERT_TRUE(fs::create_directories(root_ + "/gone/sub/empty"));  // survives any pruning

  ListOptions o;
  o.delimiter = "/";
  Result<ListPage> page = store_->List(o);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->common_prefixes, (std::vector<std::string>{"real/"}));
  EXPECT_TRUE(page->objects.empty());
  o.prefix = "gone/";
  page = store_->List(o);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->common_prefixes.empty());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"real/obj"}));
}

TEST_F(LocalStoreTest, DeletePrunesEmptyParentDirectories) {
  MustPut("a/b/c/d", "v");
  MustPut("a/keep", "v");
  ASSERT_TRUE(store_->Delete("a/b/c/d").ok());
  EXPECT_FALSE(fs::exists(root_ + "/a/b"));
  EXPECT_TRUE(fs::exists(root_ + "/a/.vp-obj.keep"));
  // A creator recreates what was pruned.
  MustPut("a/b/c/d", "again");
  Result<GetResult> r = store_->Get("a/b/c/d");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->data, "again");
}

TEST_F(LocalStoreTest, ConcurrentDeletesAndCreatesInOneDirectory) {
  // Deleters prune directories that creators are about to use; every create must still
  // land, and every object must stay readable.
  constexpr int kThreads = 4;
  constexpr int kRounds = 100;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string key = "deep/dir/tree/k" + std::to_string(t);
      for (int i = 0; i < kRounds; ++i) {
        if (!store_->Put(key, "v", PutOptions{PutMode::kCreateOnly, ""}).ok()) ++errors;
        if (!store_->Get(key).ok()) ++errors;
        if (!store_->Delete(key).ok()) ++errors;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_TRUE(Keys().empty());
}

TEST_F(LocalStoreTest, OnDiskLayout) {
  MustPut("a/b/c", "content");
  MustPut("top", "t");
  std::ifstream in(root_ + "/a/b/.vp-obj.c");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(content, "content");
  EXPECT_TRUE(fs::is_regular_file(root_ + "/.vp-obj.top"));
  // No temp file survives a successful put.
  for (const auto& e : fs::recursive_directory_iterator(root_)) {
    EXPECT_EQ(e.path().filename().string().rfind(".vp-tmp.", 0), std::string::npos) << e.path();
  }
}

TEST_F(LocalStoreTest, PersistsAcrossReopen) {
  const ObjectMeta put = MustPut("ns/manifest", "durable bytes");
  Reopen();
  Result<GetResult> r = store_->Get("ns/manifest");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->data, "durable bytes");
  EXPECT_EQ(r->meta.etag, put.etag);
  EXPECT_EQ(Keys(), (std::vector<std::string>{"ns/manifest"}));
  // A second store on the same directory at the same time sees the same objects.
  Result<std::unique_ptr<ObjectStore>> other = OpenLocalStore(root_);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE(other.value()->Put("ns/other", "x").ok());
  EXPECT_EQ(Keys(), (std::vector<std::string>{"ns/manifest", "ns/other"}));
}

TEST_F(LocalStoreTest, OpenCreatesMissingDirectoriesAndRejectsBadRoots) {
  const std::string nested = dir_.path() + "/x/y/z";
  Result<std::unique_ptr<ObjectStore>> r = OpenLocalStore(nested);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(fs::is_directory(nested));
  EXPECT_EQ(r.value()->Describe(), "local:" + nested);

  EXPECT_TRUE(OpenLocalStore("").status().IsInvalidArgument());
  const std::string file = dir_.path() + "/plain-file";
  ASSERT_TRUE(std::ofstream(file) << "not a directory");
  EXPECT_FALSE(OpenLocalStore(file).ok());
  EXPECT_FALSE(OpenLocalStore(file + "/below").ok());
}

TEST_F(LocalStoreTest, ForeignFilesAreIgnored) {
  // Files that the store did not write (no ".vp-obj." prefix) are not objects.
  ASSERT_TRUE(std::ofstream(root_ + "/README") << "hello");
  ASSERT_TRUE(fs::create_directories(root_ + "/d"));
  ASSERT_TRUE(std::ofstream(root_ + "/d/notes.txt") << "hello");
  MustPut("d/obj", "v");
  EXPECT_EQ(Keys(), (std::vector<std::string>{"d/obj"}));
  EXPECT_TRUE(store_->Get("README").status().IsNotFound());
}

}  // namespace
}  // namespace vecpuff
