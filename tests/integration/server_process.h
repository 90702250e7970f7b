// ServerProcess: runs the real vecpuff binary as a child process on a free loopback port,
// for integration tests. The child's output goes to a log file in the data directory's
// parent, printed by the test on failure.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace vecpuff::testing {

// A TCP port on 127.0.0.1 that was free a moment ago.
int FreeLoopbackPort();

class ServerProcess {
 public:
  // `data_dir` is the local store root; `config_toml` is written to a file and passed with
  // --config; `env` ("NAME=value") is added to the child's environment. Does not start the
  // process.
  ServerProcess(std::string data_dir, std::string work_dir, std::string config_toml = "",
                std::vector<std::string> env = {});
  ~ServerProcess();  // SIGKILLs the child if it is still running

  // Starts the server and waits (up to 20 s) until GET /health answers. False on failure.
  bool Start();
  // SIGTERM, then waits for exit; returns the exit status (or -1).
  int Stop();
  // SIGKILL, then reaps the child.
  void Kill();

  int port() const { return port_; }
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string Log() const;
  // The file the child's stdout and stderr go to; it outlives this object.
  const std::string& log_path() const { return log_path_; }

 private:
  std::string data_dir_, work_dir_, config_path_, log_path_;
  std::vector<std::string> env_;  // "NAME=value" set in the child
  int port_ = 0;
  pid_t pid_ = -1;
};

// The whole file at `path`, or "" if it cannot be read.
std::string ReadWholeFile(const std::string& path);

// The resident set size of process `pid` in KiB (VmRSS in /proc), or -1 if unknown.
long ResidentKib(pid_t pid);

// The endpoint of the S3 test server started by scripts/with_moto.sh
// (VECPUFF_TEST_S3_ENDPOINT), or "" when the tests run without it.
std::string S3TestEndpoint();

// Creates a bucket on the S3 test server (moto accepts unsigned requests). False on failure.
bool CreateBucket(const std::string& endpoint, const std::string& bucket);

// A bucket name no other test of this run uses.
std::string UniqueBucketName();

// The environment ("NAME=value") that points a server at `bucket` on `endpoint`.
std::vector<std::string> S3Env(const std::string& endpoint, const std::string& bucket);

}  // namespace vecpuff::testing
