// chardev-socket against real sockets in this process: servers accepting, clients connecting,
// descriptors travelling with their bytes, blocking reads for handshakes, reconnecting, and
// nothing left behind (files, descriptors) once a chardev is gone.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/eventfd.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include <thread>

#include "chardev_test_util.h"
#include "util/socket.h"

namespace nahanni::test {
namespace {

using namespace std::chrono_literals;

class ChardevSocket : public testing::Test {
 protected:
  void SetUp() override {
    main_loop();
    fds_before_ = count_open_fds();
  }
  void TearDown() override {
    for (const auto& [name, child] : object_root().container("chardevs")->children()) ADD_FAILURE() << "left: " << name;
    EXPECT_EQ(count_open_fds(), fds_before_);
  }
  ScratchDir dir_;
  int fds_before_ = 0;
};

bool exists(const std::string& path) {
  struct stat st{};
  return ::lstat(path.c_str(), &st) == 0;
}

// Sends `text` with a fresh eventfd; returns our end so the test can check it arrived intact.
UniqueFd send_with_eventfd(int sock, std::string_view text) {
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  int raw = efd.get();
  EXPECT_EQ(send_with_fds(sock, as_bytes(text), std::span(&raw, 1)), static_cast<ssize_t>(text.size()));
  return efd;
}

// True when `a` and `b` are the same open file (same eventfd object).
bool same_eventfd(int a, int b) {
  uint64_t one = 7;
  if (::write(a, &one, sizeof one) != sizeof one) return false;
  uint64_t got = 0;
  return ::read(b, &got, sizeof got) == sizeof got && got == 7;
}

TEST_F(ChardevSocket, server_accepts_and_passes_bytes_with_their_descriptors) {
  std::string path = dir_.file("s.sock");
  Chardev* c = *add_cli("socket,id=c,path=" + path + ",server=on,wait=off");
  EXPECT_TRUE(exists(path));
  EXPECT_FALSE(c->connected());
  EXPECT_TRUE(c->supports_fd_passing());
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  EXPECT_TRUE(rec.events.empty());

  EXPECT_EQ(*c->get_property("connected"), false);
  UniqueFd peer = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return !rec.events.empty(); }));
  EXPECT_EQ(rec.events, std::vector{ChardevEvent::Opened});
  EXPECT_TRUE(c->connected());
  EXPECT_EQ(*c->get_property("connected"), true);

  UniqueFd sent = send_with_eventfd(peer.get(), "12345678");
  ASSERT_TRUE(pump_until([&] { return rec.bytes.size() == 8; }));
  EXPECT_EQ(rec.bytes, "12345678");
  ASSERT_EQ(rec.fds.size(), 1u);
  EXPECT_EQ(rec.fd_offsets, std::vector<size_t>{0});
  EXPECT_TRUE(same_eventfd(sent.get(), rec.fds[0].get()));
  EXPECT_NE(::fcntl(rec.fds[0].get(), F_GETFD) & FD_CLOEXEC, 0);

  EXPECT_TRUE(c->write_all("reply"));
  EXPECT_EQ(read_exact(peer.get(), 5), "reply");

  peer.reset();
  ASSERT_TRUE(pump_until([&] { return rec.events.size() == 2; }));
  EXPECT_EQ(rec.events[1], ChardevEvent::Closed);
  EXPECT_FALSE(c->connected());
  EXPECT_FALSE(c->write_all("lost"));

  // Listening again: the next client is accepted.
  UniqueFd again = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return rec.events.size() == 3; }));
  EXPECT_EQ(rec.events[2], ChardevEvent::Opened);

  rec.fds.clear();
  c->detach();
  again.reset();
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_FALSE(exists(path));  // the server removes the socket file it created
}

TEST_F(ChardevSocket, max_read_keeps_each_descriptor_with_its_message) {
  std::string path = dir_.file("s.sock");
  Chardev* c = *add_cli("socket,id=c,path=" + path + ",server=on,wait=off");
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend(8)));
  UniqueFd peer = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return c->connected(); }));
  // Three messages as ivshmem-server sends them: two plain, the third with a descriptor.
  ASSERT_EQ(send_with_fds(peer.get(), as_bytes("AAAAAAAA"), {}), 8);
  ASSERT_EQ(send_with_fds(peer.get(), as_bytes("BBBBBBBB"), {}), 8);
  UniqueFd sent = send_with_eventfd(peer.get(), "CCCCCCCC");
  ASSERT_TRUE(pump_until([&] { return rec.bytes.size() == 24; }));
  EXPECT_EQ(rec.bytes, "AAAAAAAABBBBBBBBCCCCCCCC");
  ASSERT_EQ(rec.fds.size(), 1u);
  EXPECT_EQ(rec.fd_offsets, std::vector<size_t>{16});
  EXPECT_TRUE(same_eventfd(sent.get(), rec.fds[0].get()));
  rec.fds.clear();
  c->detach();
  EXPECT_TRUE(chardev_remove("c"));
}

TEST_F(ChardevSocket, one_client_at_a_time_the_next_waits_in_the_backlog) {
  std::string path = dir_.file("s.sock");
  Chardev* c = *add_cli("socket,id=c,path=" + path + ",server=on,wait=off");
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  UniqueFd first = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return rec.events.size() == 1; }));
  UniqueFd second = *unix_connect(path);  // queued by the kernel, not accepted
  ASSERT_EQ(send_with_fds(second.get(), as_bytes("from-second"), {}), 11);
  ASSERT_EQ(send_with_fds(first.get(), as_bytes("from-first"), {}), 10);
  ASSERT_TRUE(pump_until([&] { return rec.bytes == "from-first"; }));
  pump_ready();
  EXPECT_EQ(rec.events.size(), 1u);

  first.reset();
  ASSERT_TRUE(pump_until([&] { return rec.bytes == "from-firstfrom-second"; }));
  EXPECT_EQ(rec.events, (std::vector{ChardevEvent::Opened, ChardevEvent::Closed, ChardevEvent::Opened}));
  c->detach();
  second.reset();
  EXPECT_TRUE(chardev_remove("c"));
}

TEST_F(ChardevSocket, attaching_to_an_open_chardev_reports_opened_at_once) {
  auto listener = unix_listen(dir_.file("peer.sock"));
  ASSERT_TRUE(listener);
  Chardev* c = *add_cli("socket,id=c,path=" + dir_.file("peer.sock"));
  EXPECT_TRUE(c->connected());
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  EXPECT_EQ(rec.events, std::vector{ChardevEvent::Opened});
  c->detach();
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_TRUE(exists(dir_.file("peer.sock")));  // a client never removes the server's file
}

class ClientWithPeer : public ChardevSocket {
 protected:
  void SetUp() override {
    ChardevSocket::SetUp();
    listener_ = *unix_listen(dir_.file("server.sock"));
    chr_ = *add_cli("socket,id=c,path=" + dir_.file("server.sock"));
    peer_ = UniqueFd(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(peer_);
  }
  void TearDown() override {
    if (chr_->attached()) chr_->detach();
    EXPECT_TRUE(chardev_remove("c"));
    peer_.reset();
    listener_.reset();
    ChardevSocket::TearDown();
  }
  UniqueFd listener_, peer_;
  Chardev* chr_ = nullptr;
};

TEST_F(ClientWithPeer, read_blocking_returns_bytes_and_descriptors) {
  UniqueFd sent = send_with_eventfd(peer_.get(), "12345678");
  uint8_t buf[64];
  std::vector<UniqueFd> fds;
  auto n = chr_->read_blocking(buf, fds, 5s);
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 8u);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(buf), 8), "12345678");
  ASSERT_EQ(fds.size(), 1u);
  EXPECT_TRUE(same_eventfd(sent.get(), fds[0].get()));
}

TEST_F(ClientWithPeer, read_blocking_times_out_with_an_error) {
  uint8_t buf[8];
  std::vector<UniqueFd> fds;
  auto n = chr_->read_blocking(buf, fds, 30ms);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().message(), "Chardev 'c': timed out after 30 ms waiting for data");
  EXPECT_TRUE(chr_->connected());
}

TEST_F(ClientWithPeer, read_blocking_sees_the_peer_close) {
  peer_.reset();
  uint8_t buf[8];
  std::vector<UniqueFd> fds;
  auto n = chr_->read_blocking(buf, fds, 5s);
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 0u);
  EXPECT_FALSE(chr_->connected());
}

TEST_F(ClientWithPeer, read_blocking_is_refused_while_a_frontend_is_attached) {
  Recorder rec;
  ASSERT_TRUE(chr_->attach(rec.frontend()));
  uint8_t buf[8];
  std::vector<UniqueFd> fds;
  EXPECT_EQ(chr_->read_blocking(buf, fds, 10ms).error().message(), "Chardev 'c' is busy");
}

TEST_F(ClientWithPeer, what_read_blocking_left_reaches_the_frontend_with_its_descriptors) {
  ASSERT_EQ(send_with_fds(peer_.get(), as_bytes("VVVVVVVV"), {}), 8);
  ASSERT_EQ(send_with_fds(peer_.get(), as_bytes("IIIIIIII"), {}), 8);
  UniqueFd sent = send_with_eventfd(peer_.get(), "MMMMMMMM");
  uint8_t buf[8];
  std::vector<UniqueFd> fds;
  auto n = chr_->read_blocking(buf, fds, 5s);  // the handshake takes only the first message
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 8u);
  EXPECT_TRUE(fds.empty());
  Recorder rec;
  ASSERT_TRUE(chr_->attach(rec.frontend()));
  ASSERT_TRUE(pump_until([&] { return rec.bytes.size() == 16; }));
  EXPECT_EQ(rec.bytes, "IIIIIIIIMMMMMMMM");
  ASSERT_EQ(rec.fds.size(), 1u);
  EXPECT_TRUE(same_eventfd(sent.get(), rec.fds[0].get()));
  EXPECT_EQ(rec.events, std::vector{ChardevEvent::Opened});
}

TEST_F(ClientWithPeer, peer_hangup_is_reported_once) {
  Recorder rec;
  ASSERT_TRUE(chr_->attach(rec.frontend()));
  peer_.reset();
  ASSERT_TRUE(pump_until([&] { return rec.events.size() == 2; }));
  pump_ready();
  EXPECT_EQ(rec.events, (std::vector{ChardevEvent::Opened, ChardevEvent::Closed}));
  EXPECT_FALSE(chr_->connected());
}

TEST_F(ChardevSocket, default_read_blocking_is_not_supported) {
  Chardev* c = *add_cli("null,id=c");
  uint8_t buf[8];
  std::vector<UniqueFd> fds;
  EXPECT_EQ(c->read_blocking(buf, fds, 1ms).error().message(),
            "Chardev 'c': blocking reads are not supported by chardev-null");
  EXPECT_TRUE(chardev_remove("c"));
}

TEST_F(ChardevSocket, client_reconnects_and_reports_the_failure_once) {
  LogCapture log;
  std::string path = dir_.file("late.sock");
  auto r = add_cli("socket,id=c,path=" + path + ",reconnect=1");
  ASSERT_TRUE(r) << r.error().message();
  Chardev* c = *r;
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  ASSERT_TRUE(pump_until([&] { return !LogCapture::lines().empty(); }));
  EXPECT_EQ(LogCapture::lines()[0],
            "nahanni: Unable to connect character device c: Failed to connect to '" + path +
                "': No such file or directory");
  EXPECT_FALSE(c->connected());

  UniqueFd listener = *unix_listen(path);
  ASSERT_TRUE(pump_until([&] { return c->connected(); }));
  EXPECT_EQ(rec.events, std::vector{ChardevEvent::Opened});
  EXPECT_EQ(LogCapture::lines().size(), 1u);

  // The server goes away: Closed, then a new connection once it is back.
  UniqueFd peer(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
  peer.reset();
  ASSERT_TRUE(pump_until([&] { return rec.events.size() == 2; }));
  EXPECT_EQ(rec.events[1], ChardevEvent::Closed);
  ASSERT_TRUE(pump_until([&] { return rec.events.size() == 3; }));
  EXPECT_EQ(rec.events[2], ChardevEvent::Opened);
  c->detach();
  EXPECT_TRUE(chardev_remove("c"));
}

TEST_F(ChardevSocket, wait_on_blocks_start_up_until_a_client_connects) {
  LogCapture log;
  std::string path = dir_.file("wait.sock");
  std::thread client([path] {
    for (int i = 0; i < 1000; ++i) {
      if (auto fd = unix_connect(path)) return;  // closing at once is fine: it was queued for accept
      std::this_thread::sleep_for(5ms);
    }
  });
  auto r = add_cli("socket,id=c,path=" + path + ",server=on");
  client.join();
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE((*r)->connected());
  ASSERT_FALSE(LogCapture::lines().empty());
  EXPECT_EQ(LogCapture::lines()[0],
            "nahanni: info: QEMU waiting for connection on: disconnected:unix:" + path + ",server=on");
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_FALSE(exists(path));
}

TEST_F(ChardevSocket, stale_socket_file_is_replaced_and_removed_afterwards) {
  std::string path = dir_.file("stale.sock");
  { UniqueFd gone = *unix_listen(path); }  // leaves a file nobody listens on
  ASSERT_TRUE(exists(path));
  auto r = add_cli("socket,id=c,path=" + path + ",server=on,wait=off");
  ASSERT_TRUE(r) << r.error().message();
  UniqueFd peer = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return (*r)->connected(); }));
  peer.reset();
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_FALSE(exists(path));
}

TEST_F(ChardevSocket, inherited_listening_fd_serves_like_libvirts_monitor) {
  std::string path = dir_.file("mon.sock");
  UniqueFd listening = *unix_listen(path);
  int n = listening.release();  // the chardev owns it from here
  ::fcntl(n, F_SETFD, 0);       // as inherited across exec
  auto r = add_cli(fmt::format("socket,id=c,fd={},server=on,wait=off", n));
  ASSERT_TRUE(r) << r.error().message();
  Chardev* c = *r;
  EXPECT_NE(::fcntl(n, F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_TRUE(c->supports_fd_passing());
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  UniqueFd peer = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return !rec.events.empty(); }));
  EXPECT_TRUE(c->write_all("{\"QMP\"}"));
  EXPECT_EQ(read_exact(peer.get(), 7), "{\"QMP\"}");
  c->detach();
  peer.reset();
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_TRUE(exists(path));  // not ours to remove: whoever bound it owns the file
}

TEST_F(ChardevSocket, inherited_listening_fd_without_server_on_still_accepts) {
  std::string path = dir_.file("mon.sock");
  int n = (*unix_listen(path)).release();
  auto r = add_cli(fmt::format("socket,id=c,fd={}", n));
  ASSERT_TRUE(r) << r.error().message();
  UniqueFd peer = *unix_connect(path);
  ASSERT_TRUE(pump_until([&] { return (*r)->connected(); }));
  peer.reset();
  EXPECT_TRUE(chardev_remove("c"));
}

TEST_F(ChardevSocket, inherited_connected_fd_is_a_client) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  auto r = add_cli(fmt::format("socket,id=c,fd={}", sv[0]));
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_TRUE((*r)->connected());
  Recorder rec;
  ASSERT_TRUE((*r)->attach(rec.frontend()));
  UniqueFd sent = send_with_eventfd(peer.get(), "x");
  ASSERT_TRUE(pump_until([&] { return rec.bytes == "x"; }));
  ASSERT_EQ(rec.fds.size(), 1u);
  rec.fds.clear();
  (*r)->detach();
  EXPECT_TRUE(chardev_remove("c"));
}

TEST_F(ChardevSocket, inherited_connected_fd_cannot_become_a_server) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  EXPECT_EQ(add_cli_error(fmt::format("socket,id=c,fd={},server=on,wait=off", sv[0])),
            "Failed to listen on fd socket: Invalid argument");
}

TEST_F(ChardevSocket, tcp_server_and_client) {
  // Find a free port by binding one and letting it go.
  std::string port;
  {
    UniqueFd probe = *tcp_listen("127.0.0.1", "0");
    sockaddr_in a{};
    socklen_t len = sizeof a;
    ::getsockname(probe.get(), reinterpret_cast<sockaddr*>(&a), &len);
    port = std::to_string(ntohs(a.sin_port));
  }
  auto server = add_cli("socket,id=s,host=127.0.0.1,port=" + port + ",server=on,wait=off");
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_FALSE((*server)->supports_fd_passing());
  auto client = add_cli("socket,id=c,host=127.0.0.1,port=" + port);
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE((*client)->connected());
  Recorder rec;
  ASSERT_TRUE((*server)->attach(rec.frontend()));
  ASSERT_TRUE(pump_until([&] { return !rec.events.empty(); }));
  EXPECT_TRUE((*client)->write_all("over tcp"));
  ASSERT_TRUE(pump_until([&] { return rec.bytes == "over tcp"; }));
  (*server)->detach();
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_TRUE(chardev_remove("s"));
  EXPECT_EQ(add_cli_error("socket,id=c,host=127.0.0.1,port=" + port),
            "Failed to connect to '127.0.0.1:" + port + "': Connection refused");
}

TEST_F(ChardevSocket, file_truncates_or_appends) {
  std::string path = dir_.file("out.txt");
  Chardev* f = *add_cli("file,id=f,path=" + path);
  EXPECT_TRUE(f->connected());
  EXPECT_TRUE(f->write_all("one\n"));
  EXPECT_TRUE(chardev_remove("f"));
  f = *add_cli("file,id=f,path=" + path + ",append=on");
  EXPECT_TRUE(f->write_all("two\n"));
  EXPECT_TRUE(chardev_remove("f"));
  f = *add_cli("file,id=f,path=" + path + ",append=on");
  EXPECT_TRUE(f->write_all("three\n"));
  EXPECT_TRUE(chardev_remove("f"));
  UniqueFd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  char buf[64];
  ssize_t n = ::read(in.get(), buf, sizeof buf);
  EXPECT_EQ(std::string(buf, n > 0 ? static_cast<size_t>(n) : 0), "one\ntwo\nthree\n");
  f = *add_cli("file,id=f,path=" + path);
  EXPECT_TRUE(chardev_remove("f"));
  struct stat st{};
  ::stat(path.c_str(), &st);
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(ChardevSocket, null_swallows_output_and_never_opens) {
  Chardev* c = *add_cli("null,id=n");
  EXPECT_FALSE(c->connected());
  EXPECT_TRUE(c->write_all("anything"));
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  EXPECT_TRUE(rec.events.empty());
  c->detach();
  EXPECT_TRUE(chardev_remove("n"));
}

}  // namespace
}  // namespace nahanni::test
