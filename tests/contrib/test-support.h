// Helpers for the ivshmem tool tests: run the built binaries as subprocesses, and speak the
// protocol in-process as a bare peer (RawPeer) to check exactly what a server sends.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "contrib/ivshmem-protocol/client-session.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "util/fd.h"
#include "util/socket.h"

namespace nahanni::ivshmem::test {

// Generous bound for waits that only fail when something is broken; never a measurement.
inline constexpr auto kPatience = std::chrono::seconds(60);

inline std::string binary(const char* env, const char* fallback) {
  const char* p = std::getenv(env);
  return p ? p : fallback;
}
inline std::string server_binary() { return binary("IVSHMEM_SERVER", "ivshmem-server"); }
inline std::string client_binary() { return binary("IVSHMEM_CLIENT", "ivshmem-client"); }

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

// Polls `pred` until true or kPatience passes.
inline bool eventually(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/nn-ivshmem-test.XXXXXX";
    path_ = ::mkdtemp(tmpl.data()) ? tmpl : "";
  }
  ~TempDir() {
    if (path_.empty()) return;
    if (DIR* d = ::opendir(path_.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") ::unlink((path_ + "/" + e->d_name).c_str());
      ::closedir(d);
    }
    ::rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct SubprocessOptions {
  int listen_fd = -1;  // passed as fd 3 with LISTEN_FDS=1 and LISTEN_PID set (systemd style)
  std::string stdin_text;
};

// A child process with stdout and stderr captured in files.
class Subprocess {
 public:
  using Options = SubprocessOptions;

  Subprocess(std::vector<std::string> argv, const TempDir& dir, Options options = {}) {
    static int counter = 0;
    std::string tag = std::to_string(++counter);
    out_path_ = dir.file("out" + tag);
    err_path_ = dir.file("err" + tag);
    std::string in_path = dir.file("in" + tag);
    {
      std::ofstream in(in_path);
      in << options.stdin_text;
    }
    pid_ = ::fork();
    if (pid_ == 0) {
      int in = ::open(in_path.c_str(), O_RDONLY);
      int out = ::open(out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      int err = ::open(err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(in, 0);
      ::dup2(out, 1);
      ::dup2(err, 2);
      if (options.listen_fd >= 0) {
        if (options.listen_fd == 3)
          ::fcntl(3, F_SETFD, 0);  // dup2 onto itself would keep close-on-exec
        else
          ::dup2(options.listen_fd, 3);
        ::setenv("LISTEN_FDS", "1", 1);
        ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
      }
      // Only stdio (and fd 3 for socket activation) reach the program.
      int first = options.listen_fd >= 0 ? 4 : 3;
      for (int fd = first; fd < 1024; ++fd) ::close(fd);
      std::vector<char*> args;
      for (auto& a : argv) args.push_back(a.data());
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~Subprocess() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const { ::kill(pid_, sig); }
  // Exit code (128+signal if killed), or nullopt if still running after kPatience.
  std::optional<int> wait() {
    if (status_) return status_;
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return std::nullopt;
  }
  bool running() {
    if (status_) return false;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return false;
    }
    return true;
  }
  std::string out() const { return read_file(out_path_); }
  std::string err() const { return read_file(err_path_); }
  // Open descriptors of the child.
  int fd_count() const {
    int n = 0;
    if (DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str())) {
      while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
      ::closedir(d);
    }
    return n;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_, err_path_;
};

// Starts ivshmem-server -F -v on `socket` with extra arguments; waits until it listens.
inline std::unique_ptr<Subprocess> start_server(const TempDir& dir, const std::string& socket,
                                                std::vector<std::string> extra = {},
                                                Subprocess::Options options = {}) {
  std::vector<std::string> argv{server_binary(), "-F", "-v", "-S", socket};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto server = std::make_unique<Subprocess>(argv, dir, options);
  bool up = eventually([&] { return server->err().find("listening on") != std::string::npos || !server->running(); });
  if (!up || !server->running()) return nullptr;
  return server;
}

// A bare peer that records what the server sends, through the shared protocol module.
class RawPeer {
 public:
  struct Received {
    int64_t value;
    bool had_fd;
  };

  explicit RawPeer(const std::string& socket, bool keep_fds = true) : keep_fds_(keep_fds) {
    auto fd = unix_connect(socket);
    if (fd) sock_ = std::move(*fd);
    if (sock_) set_nonblocking(sock_.get(), true);
  }

  bool connected() const { return sock_.valid(); }
  int sock() const { return sock_.get(); }
  void close() { sock_.reset(); }

  // Reads what is available now. False once the server closed the connection.
  bool poll_once() {
    std::byte buf[4096];
    while (true) {
      std::vector<UniqueFd> fds;
      ssize_t n = recv_with_fds(sock_.get(), buf, fds, 4);
      if (n == 0) {
        eof_ = true;
        return false;
      }
      if (n < 0) return errno == EAGAIN;
      if (!reader_.feed(std::span<const std::byte>(buf, static_cast<size_t>(n)), std::move(fds))) {
        errors_.push_back("framing");
        return false;
      }
      while (auto msg = reader_.next()) {
        if (log_messages_) log_.push_back({msg->value, msg->fd.valid()});
        auto event = session_.handle(std::move(*msg));
        if (!event) {
          errors_.push_back(event.error().message());
          continue;
        }
        apply(std::move(*event));
      }
    }
  }
  // Pumps until `pred` holds, EOF, or kPatience.
  bool pump_until(const std::function<bool()>& pred) {
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!pred()) {
      if (eof_ || std::chrono::steady_clock::now() > deadline) return false;
      pollfd p{sock_.get(), POLLIN, 0};
      ::poll(&p, 1, 20);
      poll_once();
    }
    return true;
  }
  bool wait_eof() {
    return pump_until([this] { return eof_; }) || eof_;
  }

  const ClientSession& session() const { return session_; }
  uint16_t id() const { return session_.own_id(); }
  unsigned vectors_of(uint16_t peer) const { return session_.vectors_of(peer); }
  const std::vector<Received>& log() const { return log_; }
  const std::vector<uint16_t>& gone() const { return gone_; }
  const std::vector<std::string>& errors() const { return errors_; }
  bool eof() const { return eof_; }
  int shm_fd() const { return shm_.get(); }
  // eventfd to ring `peer` on `vector` (kept only with keep_fds).
  int vector_fd(uint16_t peer, unsigned vector) const {
    auto& v = peer == id() ? own_ : peers_.at(peer);
    return v.at(vector).get();
  }
  void set_log_messages(bool on) { log_messages_ = on; }

 private:
  void apply(Event event) {
    switch (event.kind) {
      case Event::Kind::kSharedMemory: shm_ = std::move(event.fd); break;
      case Event::Kind::kPeerVector:
        if (keep_fds_) peers_[event.peer].push_back(std::move(event.fd));
        break;
      case Event::Kind::kOwnVector: own_.push_back(std::move(event.fd)); break;
      case Event::Kind::kPeerGone:
        gone_.push_back(event.peer);
        peers_.erase(event.peer);
        break;
      default: break;
    }
  }

  UniqueFd sock_;
  bool keep_fds_;
  bool eof_ = false;
  bool log_messages_ = true;
  MessageReader reader_;
  ClientSession session_;
  UniqueFd shm_;
  std::map<uint16_t, std::vector<UniqueFd>> peers_;
  std::vector<UniqueFd> own_;
  std::vector<uint16_t> gone_;
  std::vector<Received> log_;
  std::vector<std::string> errors_;
};

inline bool ring(int fd) {
  uint64_t one = 1;
  return ::write(fd, &one, sizeof one) == sizeof one;
}
// Waits for an eventfd to be signalled and consumes it.
inline bool rung(int fd) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kPatience).count())) != 1) return false;
  uint64_t v = 0;
  return ::read(fd, &v, sizeof v) == sizeof v && v >= 1;
}

}  // namespace nahanni::ivshmem::test
