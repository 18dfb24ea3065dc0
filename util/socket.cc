#include "util/socket.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace nahanni {
namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path))
    return Error::format("UNIX socket path '{}' is too long", path);
  std::memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

}  // namespace

Result<UniqueFd> unix_connect(const std::string& path) {
  NN_ASSIGN_OR_RETURN(sockaddr_un addr, unix_address(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::format("Failed to create socket: {}", std::strerror(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
    return Error::format("Failed to connect to '{}': {}", path, std::strerror(errno));
  return fd;
}

Result<UniqueFd> unix_listen(const std::string& path, int backlog) {
  NN_ASSIGN_OR_RETURN(sockaddr_un addr, unix_address(path));
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Error::format("Failed to create socket: {}", std::strerror(errno));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    // A socket file nobody listens on is stale: remove it and try once more. The probes below
    // may change errno, so report the bind's own error unless the retry fails.
    int bind_errno = errno;
    struct stat st{};
    bool stale = bind_errno == EADDRINUSE && ::lstat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) &&
                 !unix_connect(path).ok();
    if (!stale) return Error::format("Failed to bind socket to {}: {}", path, std::strerror(bind_errno));
    if (::unlink(path.c_str()) < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
      return Error::format("Failed to bind socket to {}: {}", path, std::strerror(errno));
  }
  if (::listen(fd.get(), backlog) < 0) return Error::format("Failed to listen on socket: {}", std::strerror(errno));
  return fd;
}

Result<UniqueFd> tcp_connect(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Error::format("address resolution failed for {}:{}: {}", host, port, gai_strerror(rc));
  int last_errno = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (fd && ::connect(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last_errno = errno;
  }
  ::freeaddrinfo(res);
  return Error::format("Failed to connect to '{}:{}': {}", host, port, std::strerror(last_errno));
}

Result<UniqueFd> tcp_listen(const std::string& host, const std::string& port, int backlog) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Error::format("address resolution failed for {}:{}: {}", host, port, gai_strerror(rc));
  int last_errno = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) continue;
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd.get(), backlog) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last_errno = errno;
  }
  ::freeaddrinfo(res);
  return Error::format("Failed to bind socket: {}", std::strerror(last_errno));
}

void set_nonblocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return;
  ::fcntl(fd, F_SETFL, on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK));
}

ssize_t send_with_fds(int sock, std::span<const std::byte> data, std::span<const int> fds) {
  iovec iov{const_cast<std::byte*>(data.data()), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.resize(CMSG_SPACE(sizeof(int) * fds.size()));
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = ::sendmsg(sock, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  return n;
}

ssize_t recv_with_fds(int sock, std::span<std::byte> buf, std::vector<UniqueFd>& fds, size_t max_fds, bool* lost) {
  iovec iov{buf.data(), buf.size()};
  std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds));
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  ssize_t n;
  do {
    n = ::recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return n;
  if (lost) *lost = (msg.msg_flags & MSG_CTRUNC) != 0;
  // CMSG_SPACE rounds up, so the kernel may deliver a few more than max_fds: close those.
  size_t received = 0;
  for (cmsghdr* cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(cmsg) + i * sizeof(int), sizeof fd);
      if (received++ < max_fds)
        fds.emplace_back(fd);
      else
        UniqueFd{fd}.reset();
    }
  }
  return n;
}

Result<PeerCredentials> peer_credentials(int sock) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
    return Error::format("SO_PEERCRED failed: {}", std::strerror(errno));
  return PeerCredentials{cred.pid, cred.uid, cred.gid};
}

}  // namespace nahanni
