// -chardev socket: a unix or TCP stream, as client or server, or an inherited socket (fd=N).
// One connection at a time: a server stops accepting while a client is connected, so further
// clients wait in the listen backlog (of one, as QEMU's) until the first goes away.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cerrno>
#include <cstring>

#include "chardev/char-internal.h"
#include "chardev/char.h"
#include "qom/type.h"
#include "system/main-loop.h"
#include "util/log.h"
#include "util/socket.h"

namespace nahanni {
namespace {

constexpr int kBacklog = 1;
constexpr size_t kReadChunk = 4096;

// "unix:/run/x.sock" or "tcp:127.0.0.1:4444", from the socket's own address.
std::string local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return "unknown";
  if (ss.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss);
    size_t n = len > offsetof(sockaddr_un, sun_path) ? len - offsetof(sockaddr_un, sun_path) : 0;
    std::string path(un->sun_path, ::strnlen(un->sun_path, n));
    return "unix:" + path;
  }
  char host[NI_MAXHOST] = "";
  char port[NI_MAXSERV] = "";
  ::getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, host, sizeof host, port, sizeof port,
                NI_NUMERICHOST | NI_NUMERICSERV);
  if (ss.ss_family == AF_INET6) return fmt::format("tcp:[{}]:{}", host, port);
  return fmt::format("tcp:{}:{}", host, port);
}

int socket_family(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) < 0) return AF_UNSPEC;
  return ss.ss_family;
}

// QEMU's TCP listener words its failures its own way, so this does not use tcp_listen().
Result<UniqueFd> listen_tcp(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &res); rc != 0)
    return Error::format("address resolution failed for {}:{}: {}", host, port, ::gai_strerror(rc));
  int last_errno = EADDRNOTAVAIL;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol));
    if (!fd) {
      last_errno = errno;
      continue;
    }
    int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd.get(), kBacklog) == 0) {
      ::freeaddrinfo(res);
      return fd;
    }
    last_errno = errno;
  }
  ::freeaddrinfo(res);
  return Error::format("Failed to find an available port: {}", std::strerror(last_errno));
}

// Waits for `events` on `fd` until `deadline`; false on timeout.
bool wait_for(int fd, short events, EventLoop::Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - EventLoop::Clock::now());
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, left.count() < 0 ? 0 : static_cast<int>(left.count()));
    if (rc > 0) return true;
    if (rc == 0) return false;
    if (errno != EINTR) return true;  // let the following call report the failure
  }
}

class SocketChardev final : public Chardev {
 public:
  ~SocketChardev() override {
    // Watches first: they refer to the descriptors below.
    listen_watch_.reset();
    conn_watch_.reset();
    reconnect_timer_.reset();
    conn_.reset();
    listener_.reset();
    remove_socket_file();
  }

  Status configure(const OptionList& opts) override {
    auto path = chardev_opt_string(opts, "path");
    auto host = chardev_opt_string(opts, "host");
    auto fd = chardev_opt_string(opts, "fd");
    if (int(path.has_value()) + int(host.has_value()) + int(fd.has_value()) > 1)
      return Error("None or one of 'path', 'fd' or 'host' option required.");
    if (host) {
      auto port = chardev_opt_string(opts, "port");
      if (!port) return Error("chardev: socket: no port given");
      host_ = *host;
      port_ = *port;
      tcp_ = true;
    }
    if (path) path_ = *path;
    server_ = chardev_opt_bool(opts, "server", false);
    wait_ = chardev_opt_bool(opts, "wait", true);
    reconnect_ = chardev_opt_number(opts, "reconnect", 0);
    // Protocol layers this emulator does not implement: refuse rather than speak raw bytes.
    for (const char* feature : {"telnet", "tn3270", "websocket"})
      if (chardev_opt_bool(opts, feature, false))
        return Error::format("chardev: socket: '{}' is not supported by this emulator", feature);
    if (opts.has("tls-creds")) return Error("chardev: socket: 'tls-creds' is not supported by this emulator");
    bool inherited = !path && !host;
    if (inherited && opts.has("reconnect")) return Error("'reconnect' option is incompatible with 'fd' address type");
    if (!server_ && opts.has("wait")) return Error("'wait' option is incompatible with socket in client connect mode");
    if (server_ && opts.has("reconnect"))
      return Error("'reconnect' option is incompatible with socket in server listen mode");
    if (inherited) {
      NN_ASSIGN_OR_RETURN(inherited_, chardev_take_fd(fd.value_or(""), option_source()));
    }
    return {};
  }

  Status complete() override {
    if (inherited_) {
      NN_TRY(adopt_inherited());
    } else if (server_ && tcp_) {
      NN_ASSIGN_OR_RETURN(listener_, listen_tcp(host_, port_));
    } else if (server_) {
      NN_ASSIGN_OR_RETURN(listener_, unix_listen(path_, kBacklog));
      remember_socket_file();
      is_unix_ = true;
    } else if (reconnect_ > 0) {
      // As QEMU: with reconnect the first attempt runs from the event loop, and failing it
      // does not fail start-up.
      is_unix_ = !tcp_;
      reconnect_timer_ = main_loop().add_timer(std::chrono::nanoseconds(0), [this] { try_reconnect(); });
      return {};
    } else {
      NN_ASSIGN_OR_RETURN(UniqueFd fd, connect_now());
      is_unix_ = !tcp_;
      set_connection(std::move(fd));
      return {};
    }
    if (listener_ && server_ && wait_) {
      // Start-up blocks until the first client, as QEMU's wait=on does.
      log::infof("QEMU waiting for connection on: disconnected:{},server=on", local_address(listener_.get()));
      for (;;) {
        UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (client) {
          set_connection(std::move(client));
          break;
        }
        if (errno != EINTR && errno != ECONNABORTED) return Error::format("Failed to accept connection: {}", std::strerror(errno));
      }
    }
    update_watches();
    return {};
  }

  using Chardev::write_all;
  bool write_all(std::span<const uint8_t> data) override {
    while (!data.empty()) {
      if (!conn_) return false;
      ssize_t n = ::send(conn_.get(), data.data(), data.size(), MSG_NOSIGNAL);
      if (n > 0) {
        data = data.subspan(static_cast<size_t>(n));
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // Small control traffic: waiting for the peer to drain is the documented exception.
        wait_for(conn_.get(), POLLOUT, EventLoop::Clock::time_point::max());
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;  // the read side notices the hang-up and reports Closed
      }
    }
    return true;
  }

  bool connected() const override { return conn_.valid(); }
  bool supports_fd_passing() const override { return is_unix_; }

  Result<size_t> read_blocking(std::span<uint8_t> buf, std::vector<UniqueFd>& fds,
                               std::chrono::milliseconds timeout) override {
    if (attached()) return Error::format("Chardev '{}' is busy", name());
    auto deadline = EventLoop::Clock::now() + timeout;
    // With reconnect=N the first attempt waits for the event loop; a handshake needs it now.
    if (!conn_ && !listener_ && reconnect_ > 0) try_reconnect();
    if (!conn_ && listener_) {
      if (!wait_for(listener_.get(), POLLIN, deadline)) return timed_out(timeout);
      if (!accept_one()) return Error::format("Chardev '{}' is not connected", name());
    }
    if (!conn_) return Error::format("Chardev '{}' is not connected", name());
    for (;;) {
      if (!wait_for(conn_.get(), POLLIN, deadline)) return timed_out(timeout);
      bool lost = false;
      ssize_t n = recv_with_fds(conn_.get(), std::as_writable_bytes(buf), fds, kMaxFdsPerRead, &lost);
      if (n > 0 && lost) {
        // A handshake that loses a descriptor cannot go on: say why instead of misparsing.
        Error err = Error::format("Chardev '{}': {}", name(), lost_fds_reason(fds.size()));
        fds.clear();
        disconnect();
        return err;
      }
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        disconnect();
        return size_t{0};
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) continue;
      Error err = Error::format("Failed to read from chardev '{}': {}", name(), std::strerror(errno));
      disconnect();
      return err;
    }
  }

 protected:
  void frontend_changed() override { update_watches(); }

 private:
  static constexpr size_t kMaxFdsPerRead = 16;
  static std::string lost_fds_reason(size_t kept) {
    if (kept >= kMaxFdsPerRead)
      return fmt::format("the peer sent more than {} descriptors in one message; the extra ones were closed",
                         kMaxFdsPerRead);
    return fmt::format("descriptors sent by the peer were dropped: {} (RLIMIT_NOFILE)", std::strerror(EMFILE));
  }

  Error timed_out(std::chrono::milliseconds timeout) const {
    return Error::format("Chardev '{}': timed out after {} ms waiting for data", name(), timeout.count());
  }

  Result<UniqueFd> connect_now() {
    if (tcp_) return tcp_connect(host_, port_);
    return unix_connect(path_);
  }

  Status adopt_inherited() {
    int fd = inherited_.get();
    // Inherited descriptors come without close-on-exec; ours never leak into children.
    ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    is_unix_ = socket_family(fd) == AF_UNIX;
    int listening = 0;
    socklen_t len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0) listening = 0;
    // A listening socket is a server whatever server= says (libvirt passes one for the monitor);
    // without server=on nobody asked to wait for the first client.
    if (!server_ && listening) wait_ = false;
    if (server_ || listening) {
      if (::listen(fd, kBacklog) < 0) return Error::format("Failed to listen on fd socket: {}", std::strerror(errno));
      listener_ = std::move(inherited_);
      server_ = true;
      return {};
    }
    set_connection(std::move(inherited_));
    return {};
  }

  void remember_socket_file() {
    struct stat st{};
    if (::stat(path_.c_str(), &st) == 0) {
      created_path_ = path_;
      created_dev_ = st.st_dev;
      created_ino_ = st.st_ino;
    }
  }

  // Only the file this chardev bound: another process may have replaced it since.
  void remove_socket_file() {
    if (created_path_.empty()) return;
    struct stat st{};
    if (::lstat(created_path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == created_dev_ &&
        st.st_ino == created_ino_)
      ::unlink(created_path_.c_str());
    created_path_.clear();
  }

  bool accept_one() {
    UniqueFd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!client) return false;
    set_connection(std::move(client));
    return true;
  }

  void set_connection(UniqueFd fd) {
    set_nonblocking(fd.get(), true);
    conn_ = std::move(fd);
    connect_error_reported_ = false;
    lost_fds_reported_ = false;
    update_watches();
    deliver_event(ChardevEvent::Opened);
  }

  void disconnect() {
    conn_watch_.reset();
    conn_.reset();
    if (!listener_ && reconnect_ > 0)
      reconnect_timer_ = main_loop().add_timer(std::chrono::seconds(reconnect_), [this] { try_reconnect(); });
    update_watches();
    deliver_event(ChardevEvent::Closed);
  }

  void try_reconnect() {
    reconnect_timer_ = {};
    if (conn_) return;
    auto fd = connect_now();
    if (fd) {
      set_connection(std::move(fd).value());
      return;
    }
    if (!connect_error_reported_) {
      log::errorf("Unable to connect character device {}: {}", name(), fd.error().message());
      connect_error_reported_ = true;
    }
    reconnect_timer_ = main_loop().add_timer(std::chrono::seconds(reconnect_), [this] { try_reconnect(); });
  }

  // Accept while idle; read while connected and someone listens.
  void update_watches() {
    if (listener_ && !conn_) {
      if (!listen_watch_.active())
        listen_watch_ = main_loop().watch_fd(listener_.get(), EventLoop::kReadable, [this](uint32_t) { accept_one(); });
    } else {
      listen_watch_.reset();
    }
    if (conn_ && attached()) {
      if (!conn_watch_.active())
        conn_watch_ = main_loop().watch_fd(conn_.get(), EventLoop::kReadable, [this](uint32_t) { on_readable(); });
    } else {
      conn_watch_.reset();
    }
  }

  void on_readable() {
    size_t limit = frontend_max_read();
    std::array<uint8_t, kReadChunk> buf;
    size_t want = limit == 0 || limit > buf.size() ? buf.size() : limit;
    std::vector<UniqueFd> fds;
    bool lost = false;
    ssize_t n = recv_with_fds(conn_.get(), std::as_writable_bytes(std::span(buf.data(), want)), fds, kMaxFdsPerRead,
                              &lost);
    if (n > 0 && lost) {
      // Once per connection: a peer that keeps sending must not flood the log.
      if (!lost_fds_reported_) log::warnf("chardev '{}': {}", name(), lost_fds_reason(fds.size()));
      lost_fds_reported_ = true;
      deliver_event(ChardevEvent::DescriptorsLost);
      if (!conn_) return;  // the frontend may have closed us
    }
    if (n > 0) {
      deliver(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), fds);
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      disconnect();
    }
  }

  std::string path_, host_, port_;
  bool tcp_ = false;
  bool server_ = false;
  bool wait_ = true;
  uint64_t reconnect_ = 0;
  bool is_unix_ = false;
  bool connect_error_reported_ = false;
  bool lost_fds_reported_ = false;
  std::string created_path_;
  dev_t created_dev_ = 0;
  ino_t created_ino_ = 0;
  UniqueFd inherited_;
  UniqueFd listener_;
  UniqueFd conn_;
  // Declared after the descriptors so they are dropped first.
  EventLoop::Handle listen_watch_;
  EventLoop::Handle conn_watch_;
  EventLoop::Handle reconnect_timer_;
};

const TypeRegistration kSocketType{TypeInfo{
    .name = "chardev-socket",
    .parent = std::string(kChardevType),
    .factory = make_factory<SocketChardev>(),
    // qom-get /chardevs/ID connected, as QEMU offers it.
    .properties = {PropertyInfo{.name = "connected",
                                .type = "bool",
                                .get = [](const Object& o, nlohmann::json& out) {
                                  out = static_cast<const SocketChardev&>(o).connected();
                                },
                                .read_only = true}},
    .user_creatable = false}};

}  // namespace
}  // namespace nahanni
