// Unix and TCP sockets as values, and descriptor passing with SCM_RIGHTS.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "util/socket.h"

namespace nahanni {
namespace {

bool cloexec(int fd) { return ::fcntl(fd, F_GETFD) & FD_CLOEXEC; }

std::span<const std::byte> as_bytes(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

class SocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/nahanni-sock-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    fds_before_ = count_open_fds();
  }
  void TearDown() override {
    std::filesystem::remove_all(dir_);
    EXPECT_EQ(count_open_fds(), fds_before_) << "descriptor leak";
  }
  std::string path(const char* name) const { return dir_ + "/" + name; }

  std::string dir_;
  int fds_before_ = 0;
};

struct Pair {
  UniqueFd a, b;
  Pair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    a.reset(sv[0]);
    b.reset(sv[1]);
  }
};

TEST_F(SocketTest, unix_listen_and_connect_round_trip) {
  auto listener = unix_listen(path("s"));
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  EXPECT_TRUE(cloexec(listener->get()));
  auto client = unix_connect(path("s"));
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_TRUE(cloexec(client->get()));
  UniqueFd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());
  ASSERT_EQ(::write(client->get(), "ping", 4), 4);
  char buf[8] = {};
  ASSERT_EQ(::read(server.get(), buf, sizeof buf), 4);
  EXPECT_STREQ(buf, "ping");
}

TEST_F(SocketTest, unix_listen_replaces_a_stale_socket_file) {
  { auto first = unix_listen(path("s")); ASSERT_TRUE(first.ok()); }  // closed, file left behind
  struct stat st {};
  ASSERT_EQ(::lstat(path("s").c_str(), &st), 0);
  auto second = unix_listen(path("s"));
  ASSERT_TRUE(second.ok()) << second.error().message();
}

TEST_F(SocketTest, unix_listen_refuses_a_path_someone_listens_on) {
  auto first = unix_listen(path("s"));
  ASSERT_TRUE(first.ok());
  auto second = unix_listen(path("s"));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().message(), "Failed to bind socket to " + path("s") + ": Address already in use");
}

TEST_F(SocketTest, unix_listen_refuses_to_remove_a_regular_file) {
  { std::FILE* f = std::fopen(path("file").c_str(), "w"); ASSERT_NE(f, nullptr); std::fclose(f); }
  auto r = unix_listen(path("file"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Failed to bind socket to " + path("file") + ": Address already in use");
  EXPECT_TRUE(std::filesystem::is_regular_file(path("file")));
}

TEST_F(SocketTest, unix_connect_to_missing_path_names_it) {
  auto r = unix_connect(path("missing"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Failed to connect to '" + path("missing") + "': No such file or directory");
}

TEST_F(SocketTest, unix_path_too_long_is_an_error) {
  std::string long_path(200, 'a');
  auto r = unix_connect(long_path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "UNIX socket path '" + long_path + "' is too long");
  EXPECT_FALSE(unix_listen(long_path).ok());
  EXPECT_FALSE(unix_connect("").ok());
}

TEST_F(SocketTest, tcp_listen_and_connect_on_loopback) {
  auto listener = tcp_listen("127.0.0.1", "0");
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  EXPECT_TRUE(cloexec(listener->get()));
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(listener->get(), reinterpret_cast<sockaddr*>(&addr), &len), 0);
  std::string port = std::to_string(ntohs(addr.sin_port));
  auto client = tcp_connect("127.0.0.1", port);
  ASSERT_TRUE(client.ok()) << client.error().message();
  EXPECT_TRUE(cloexec(client->get()));
  UniqueFd server(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(server.valid());
}

TEST_F(SocketTest, tcp_connect_refused_is_an_error) {
  // Find a free port by binding and closing it.
  std::string port;
  {
    auto l = tcp_listen("127.0.0.1", "0");
    ASSERT_TRUE(l.ok());
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    ::getsockname(l->get(), reinterpret_cast<sockaddr*>(&addr), &len);
    port = std::to_string(ntohs(addr.sin_port));
  }
  auto r = tcp_connect("127.0.0.1", port);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Failed to connect to '127.0.0.1:" + port + "': Connection refused");
}

TEST_F(SocketTest, descriptors_pass_with_data_and_arrive_cloexec) {
  Pair s;
  int pipe_fds[2];
  ASSERT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
  UniqueFd rd(pipe_fds[0]), wr(pipe_fds[1]);
  int to_send[] = {rd.get(), wr.get()};
  ASSERT_EQ(send_with_fds(s.a.get(), as_bytes("hello"), to_send), 5);

  std::vector<UniqueFd> got;
  std::byte buf[16];
  ASSERT_EQ(recv_with_fds(s.b.get(), buf, got), 5);
  EXPECT_EQ(std::memcmp(buf, "hello", 5), 0);
  ASSERT_EQ(got.size(), 2u);
  for (const UniqueFd& fd : got) {
    EXPECT_TRUE(cloexec(fd.get()));
    EXPECT_NE(fd.get(), rd.get());
    EXPECT_NE(fd.get(), wr.get());
  }
  // The received pair is the same pipe: write on the copy of one end, read on the original other.
  ASSERT_EQ(::write(got[1].get(), "z", 1), 1);
  char c = 0;
  ASSERT_EQ(::read(rd.get(), &c, 1), 1);
  EXPECT_EQ(c, 'z');
}

TEST_F(SocketTest, message_without_descriptors_gives_none) {
  Pair s;
  ASSERT_EQ(send_with_fds(s.a.get(), as_bytes("abc"), {}), 3);
  std::vector<UniqueFd> got;
  std::byte buf[8];
  EXPECT_EQ(recv_with_fds(s.b.get(), buf, got), 3);
  EXPECT_TRUE(got.empty());
}

TEST_F(SocketTest, received_descriptors_are_appended) {
  Pair s;
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd null_fd(fd);
  int one[] = {fd};
  std::vector<UniqueFd> got;
  std::byte buf[8];
  ASSERT_EQ(send_with_fds(s.a.get(), as_bytes("1"), one), 1);
  ASSERT_EQ(recv_with_fds(s.b.get(), buf, got), 1);
  ASSERT_EQ(send_with_fds(s.a.get(), as_bytes("2"), one), 1);
  ASSERT_EQ(recv_with_fds(s.b.get(), buf, got), 1);
  EXPECT_EQ(got.size(), 2u);
}

TEST_F(SocketTest, descriptors_beyond_max_fds_are_closed_by_the_kernel) {
  Pair s;
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd null_fd(fd);
  int three[] = {fd, fd, fd};
  ASSERT_EQ(send_with_fds(s.a.get(), as_bytes("x"), three), 1);
  std::vector<UniqueFd> got;
  std::byte buf[8];
  EXPECT_EQ(recv_with_fds(s.b.get(), buf, got, /*max_fds=*/1), 1);
  EXPECT_EQ(got.size(), 1u);  // the caller still sees that descriptors were sent
  got.clear();
  // TearDown's leak check proves the other two were not left open.
}

TEST_F(SocketTest, recv_at_eof_returns_zero) {
  Pair s;
  s.a.reset();
  std::vector<UniqueFd> got;
  std::byte buf[8];
  EXPECT_EQ(recv_with_fds(s.b.get(), buf, got), 0);
}

TEST_F(SocketTest, send_to_closed_peer_fails_with_epipe_not_sigpipe) {
  Pair s;
  s.b.reset();
  errno = 0;
  EXPECT_EQ(send_with_fds(s.a.get(), as_bytes("x"), {}), -1);
  EXPECT_EQ(errno, EPIPE);
}

TEST_F(SocketTest, nonblocking_recv_on_empty_socket_is_eagain) {
  Pair s;
  set_nonblocking(s.b.get(), true);
  EXPECT_TRUE(::fcntl(s.b.get(), F_GETFL) & O_NONBLOCK);
  std::vector<UniqueFd> got;
  std::byte buf[8];
  errno = 0;
  EXPECT_EQ(recv_with_fds(s.b.get(), buf, got), -1);
  EXPECT_EQ(errno, EAGAIN);
  set_nonblocking(s.b.get(), false);
  EXPECT_FALSE(::fcntl(s.b.get(), F_GETFL) & O_NONBLOCK);
}

TEST_F(SocketTest, peer_credentials_are_our_own_on_a_socketpair) {
  Pair s;
  auto cred = peer_credentials(s.a.get());
  ASSERT_TRUE(cred.ok()) << cred.error().message();
  EXPECT_EQ(cred->pid, ::getpid());
  EXPECT_EQ(cred->uid, ::getuid());
  EXPECT_EQ(cred->gid, ::getgid());
}

TEST_F(SocketTest, peer_credentials_of_a_non_socket_is_an_error) {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  UniqueFd null_fd(fd);
  auto cred = peer_credentials(fd);
  ASSERT_FALSE(cred.ok());
  EXPECT_EQ(cred.error().message(), "SO_PEERCRED failed: Socket operation on non-socket");
}

}  // namespace
}  // namespace nahanni
