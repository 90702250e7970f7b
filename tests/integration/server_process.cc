#include "server_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

namespace vecpuff::testing {

int FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

ServerProcess::ServerProcess(std::string data_dir, std::string work_dir, std::string config_toml,
                             std::vector<std::string> env)
    : data_dir_(std::move(data_dir)), work_dir_(std::move(work_dir)), env_(std::move(env)) {
  static int counter = 0;
  const std::string tag = std::to_string(getpid()) + "-" + std::to_string(counter++);
  config_path_ = work_dir_ + "/config-" + tag + ".toml";
  log_path_ = work_dir_ + "/server-" + tag + ".log";
  std::ofstream(config_path_) << config_toml;
}

ServerProcess::~ServerProcess() { Kill(); }

bool ServerProcess::Start() {
  port_ = FreeLoopbackPort();
  const std::string port = std::to_string(port_);
  pid_ = fork();
  if (pid_ < 0) return false;
  if (pid_ == 0) {
    int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    for (std::string& kv : env_) putenv(kv.data());
    execl(VECPUFF_BINARY, VECPUFF_BINARY, "--config", config_path_.c_str(), "--host", "127.0.0.1",
          "--port", port.c_str(), "--data-dir", data_dir_.c_str(), nullptr);
    _exit(127);
  }
  httplib::Client client("127.0.0.1", port_);
  client.set_connection_timeout(0, 200000);
  for (int i = 0; i < 200; ++i) {
    auto res = client.Get("/health");
    if (res && res->status == 200) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {  // exited during start-up
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Kill();
  return false;
}

int ServerProcess::Stop() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void ServerProcess::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string ServerProcess::Log() const { return ReadWholeFile(log_path_); }

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

long ResidentKib(pid_t pid) {
  const std::string status = ReadWholeFile("/proc/" + std::to_string(pid) + "/status");
  const size_t at = status.find("VmRSS:");
  if (at == std::string::npos) return -1;
  return std::strtol(status.c_str() + at + 6, nullptr, 10);
}

// The endpoint of the S3 test server started by scripts/with_moto.sh, or "".
std::string S3TestEndpoint() {
  const char* e = std::getenv("VECPUFF_TEST_S3_ENDPOINT");
  return e ? e : "";
}

// Creates a fresh bucket on the S3 test server (moto accepts unsigned requests).
bool CreateBucket(const std::string& endpoint, const std::string& bucket) {
  httplib::Client c(endpoint);
  auto res = c.Put("/" + bucket, "", "application/xml");
  return res && res->status == 200;
}

std::string UniqueBucketName() {
  static std::atomic<int> counter{0};
  return "vp-it-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(std::random_device{}() % 100000);
}

// The environment that points a server at `bucket` on `endpoint`.
std::vector<std::string> S3Env(const std::string& endpoint, const std::string& bucket) {
  return {"VECPUFF_STORAGE=s3",  "S3_ENDPOINT=" + endpoint,   "S3_BUCKET=" + bucket,
          "S3_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing"};
}

}  // namespace vecpuff::testing
