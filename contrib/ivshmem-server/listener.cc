#include "listener.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string_view>
#include <utility>

#include "util/socket.h"

namespace nahanni::ivshmem {
namespace {

constexpr int kListenFdsStart = 3;  // sd_listen_fds(3)

// The first socket systemd passed us, if it passed any to this very process.
Result<std::optional<UniqueFd>> activated_socket() {
  const char* pid = std::getenv("LISTEN_PID");
  const char* fds = std::getenv("LISTEN_FDS");
  if (!pid || !fds) return std::optional<UniqueFd>();
  bool ours = std::string_view(pid) == std::to_string(::getpid());
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_FDNAMES");
  if (!ours) return std::optional<UniqueFd>();
  if (std::atoi(fds) < 1) return Error::format("LISTEN_FDS={} holds no socket", fds);
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(kListenFdsStart, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
    return Error("the socket passed by systemd is not a stream socket");
  ::fcntl(kListenFdsStart, F_SETFD, FD_CLOEXEC);
  return std::optional<UniqueFd>(UniqueFd(kListenFdsStart));
}

}  // namespace

Result<Listener> Listener::open(const std::string& path, std::optional<unsigned> mode) {
  Listener l;
  NN_ASSIGN_OR_RETURN(auto inherited, activated_socket());
  if (inherited) {
    l.fd_ = std::move(*inherited);
    l.activated_ = true;
    return l;
  }
  // The umask decides the mode bind(2) gives the file: set it so there is no window in
  // which the socket is more open than asked.
  mode_t old_mask = mode ? ::umask(static_cast<mode_t>(~*mode & 0777)) : 0;
  auto fd = unix_listen(path, 128);
  if (mode) ::umask(old_mask);
  if (!fd) return std::move(fd).error();
  l.fd_ = std::move(*fd);
  struct stat st{};
  if (::stat(path.c_str(), &st) == 0) {
    l.owned_path_ = path;
    l.dev_ = st.st_dev;
    l.ino_ = st.st_ino;
  }
  return l;
}

Listener::Listener(Listener&& other) noexcept
    : fd_(std::move(other.fd_)),
      activated_(other.activated_),
      owned_path_(std::exchange(other.owned_path_, {})),
      dev_(other.dev_),
      ino_(other.ino_) {}

Listener::~Listener() {
  if (owned_path_.empty()) return;
  // Another server may have replaced our socket file since: leave its file alone.
  struct stat st{};
  if (::stat(owned_path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) ::unlink(owned_path_.c_str());
}

}  // namespace nahanni::ivshmem
