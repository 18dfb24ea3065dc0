// Helpers shared by the ivshmem-plain, legacy, error and hotplug qtests: temporary directories
// and /dev/shm files that clean up after themselves, an ivshmem-server in the foreground, and
// the emulator's open descriptors for leak checks.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "libqtest.h"

namespace nahanni::qtest::ivtest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The guest interface as docs/specs/ivshmem-spec.rst states it (deliberately not the device's
// header, so a wrong constant there shows up here).
constexpr uint16_t kVendor = 0x1af4, kDevice = 0x1110;
constexpr uint32_t kIntrMask = 0x00, kIntrStatus = 0x04, kIvPosition = 0x08, kDoorbell = 0x0c, kFeatures = 0x10,
                   kState = 0x14, kPeerSelect = 0x18, kPeerVectors = 0x1c, kRungVectors = 0x20, kOwnVectors = 0x24,
                   kPeerCount = 0x28, kNameLength = 0x2c, kName = 0x40;
constexpr uint8_t kCfgRevision = 0x08, kCfgProgIf = 0x09, kCfgClass = 0x0a, kCfgHeaderType = 0x0e, kCfgBar0 = 0x10,
                  kCfgSubVendor = 0x2c, kCfgSubId = 0x2e, kCfgIntPin = 0x3d;

inline uint8_t cfg_bar(int n) { return static_cast<uint8_t>(kCfgBar0 + 4 * n); }

// Generous bound for conditions that only fail when something is broken; never a measurement.
inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds patience = 20s) {
  auto deadline = std::chrono::steady_clock::now() + patience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A name unique to this test process, for /dev/shm objects and the like.
inline std::string unique_name(const std::string& prefix) {
  static unsigned counter = 0;
  return fmt::format("{}-{}-{}", prefix, ::getpid(), counter++);
}

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "nn-ivtest") {
    std::string tmpl = (fs::temp_directory_path() / (prefix + ".XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// A file in /dev/shm created (or adopted) by the test and mapped into it; unlinked at the end.
class ShmFile {
 public:
  ShmFile(const std::string& name, uint64_t size) : name_(name), path_("/dev/shm/" + name), size_(size) {
    int fd = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + path_);
    fd_ = UniqueFd(fd);
    if (::ftruncate(fd, static_cast<off_t>(size)) < 0) throw std::runtime_error("ftruncate " + path_);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap " + path_);
    host_ = static_cast<uint8_t*>(p);
  }
  ~ShmFile() {
    if (host_) ::munmap(host_, size_);
    ::unlink(path_.c_str());
  }
  ShmFile(const ShmFile&) = delete;
  ShmFile& operator=(const ShmFile&) = delete;
  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  volatile uint8_t* host() const { return host_; }
  uint64_t size() const { return size_; }

 private:
  std::string name_, path_;
  uint64_t size_;
  UniqueFd fd_;
  uint8_t* host_ = nullptr;
};

// Entries of /dev/shm, for "nothing left behind" checks.
inline std::set<std::string> dev_shm_entries() {
  std::set<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/dev/shm", ec)) names.insert(e.path().filename().string());
  return names;
}

// Open descriptors of process `pid` (entries of /proc/<pid>/fd).
inline int open_fd_count(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = fs::directory_iterator(fmt::format("/proc/{}/fd", pid), ec); !ec && it != fs::directory_iterator();
       it.increment(ec))
    ++n;
  return n;
}

// The environment may name the server; otherwise the one meson built (IVSHMEM_SERVER_PATH), or
// the one beside the emulator.
inline std::string server_binary() {
  if (const char* p = std::getenv("IVSHMEM_SERVER"); p && *p) return p;
#ifdef IVSHMEM_SERVER_PATH
  return IVSHMEM_SERVER_PATH;
#else
  return (fs::path(emulator_binary()).parent_path() / "contrib/ivshmem-server/ivshmem-server").string();
#endif
}

inline bool server_available() { return ::access(server_binary().c_str(), X_OK) == 0; }

// Our ivshmem-server in the foreground, its memory an unlinked file in `dir` (nothing in
// /dev/shm), its stderr in a file in `dir`.
class Server {
 public:
  Server(const TempDir& dir, unsigned vectors, const std::string& size = "1M")
      : socket_(dir.file("ivshmem.sock")), log_(dir.file("server.log")) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + log_);
    process_ = ChildProcess::spawn(
        fmt::format("{} -F -v -S {} -m {} -l {} -n {}", server_binary(), socket_, dir.path(), size, vectors), -1, fd);
    ::close(fd);
  }
  ~Server() {
    if (process_.running()) process_.terminate(5s);
  }
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Waits until the server listens.
  bool up() {
    return eventually([&] { return log().find("listening on") != std::string::npos || !process_.running(); }) &&
           process_.running();
  }
  const std::string& socket() const { return socket_; }
  std::string log() const { return read_text(log_); }

 private:
  std::string socket_, log_;
  ChildProcess process_;
};

}  // namespace nahanni::qtest::ivtest
