// ivshmem-server under load: many peers at once, endless reconnects, a peer that stops reading.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <memory>
#include <set>

#include "test-support.h"
#include "util/event-loop.h"

namespace nahanni::ivshmem::test {
namespace {

void raise_fd_limit() {
  rlimit rl{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &rl), 0);
  rl.rlim_cur = rl.rlim_max;
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &rl), 0);
}

TEST(IvshmemServerScale, reconnecting_10000_times_leaves_the_fd_count_where_it_started) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1", "--max-queue", "100000"});
  ASSERT_TRUE(server);
  int own_base = count_open_fds();
  auto observer_ptr = std::make_unique<RawPeer>(sock, /*keep_fds=*/false);
  RawPeer& observer = *observer_ptr;
  observer.set_log_messages(false);
  ASSERT_TRUE(observer.pump_until([&] { return observer.session().ready(); }));
  int base = server->fd_count();

  constexpr int kRounds = 10000;
  for (int i = 0; i < kRounds; ++i) {
    auto fd = unix_connect(sock);
    ASSERT_TRUE(fd.ok()) << fd.error().message();
    fd->reset();
    if (i % 64 == 0) observer.poll_once();
  }
  ASSERT_TRUE(observer.pump_until([&] { return observer.gone().size() == kRounds; }));
  // Every departure was announced after the server closed that peer's socket and eventfds.
  EXPECT_EQ(server->fd_count(), base);
  EXPECT_TRUE(observer.errors().empty());
  observer_ptr.reset();
  EXPECT_EQ(count_open_fds(), own_base);
  EXPECT_TRUE(server->running());
}

TEST(IvshmemServerScale, serves_1000_peers_with_4_vectors_each) {
  raise_fd_limit();
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "4"});
  ASSERT_TRUE(server);
  int base = server->fd_count();

  constexpr size_t kPeers = 1000;
  EventLoop loop;
  std::vector<std::unique_ptr<RawPeer>> peers;
  std::vector<EventLoop::Handle> watches;
  for (size_t i = 0; i < kPeers; ++i) {
    auto peer = std::make_unique<RawPeer>(sock, /*keep_fds=*/false);
    ASSERT_TRUE(peer->connected());
    peer->set_log_messages(false);
    RawPeer* p = peer.get();
    watches.push_back(loop.watch_fd(p->sock(), EventLoop::kReadable, [p](uint32_t) { p->poll_once(); }));
    peers.push_back(std::move(peer));
    loop.run_once(std::chrono::milliseconds(0));  // drain what is ready before the next connect
  }
  auto all_served = [&] {
    for (auto& p : peers) {
      if (!p->session().ready() || p->session().peers().size() != kPeers) return false;
    }
    return true;
  };
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!all_served() && std::chrono::steady_clock::now() < deadline) loop.run_once(std::chrono::milliseconds(20));
  ASSERT_TRUE(all_served());

  std::set<uint16_t> ids;
  for (auto& p : peers) {
    ids.insert(p->id());
    for (auto& [id, vectors] : p->session().peers()) ASSERT_EQ(vectors, 4u) << "peer " << p->id() << " sees " << id;
    EXPECT_TRUE(p->errors().empty());
    EXPECT_FALSE(p->eof());
  }
  EXPECT_EQ(ids.size(), kPeers);
  EXPECT_EQ(*ids.begin(), 0);
  EXPECT_EQ(*ids.rbegin(), kPeers - 1);
  // One socket and four eventfds per peer, nothing else.
  EXPECT_EQ(server->fd_count(), base + static_cast<int>(kPeers) * 5);

  server->signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return server->out().find("total sent") != std::string::npos; }));
  EXPECT_NE(server->out().find("ivshmem-server status: 1000 peers"), std::string::npos);
  // All leave at once: the server ends up with what it had before the first came.
  watches.clear();
  peers.clear();
  EXPECT_TRUE(eventually([&] { return server->fd_count() == base; }));
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait(), 0);
}

TEST(IvshmemServerScale, a_peer_that_never_reads_is_dropped_while_the_others_keep_working) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1", "--max-queue", "64"});
  ASSERT_TRUE(server);
  RawPeer observer(sock);
  ASSERT_TRUE(observer.pump_until([&] { return observer.session().ready(); }));
  auto stuck = unix_connect(sock);  // connects and never reads
  ASSERT_TRUE(stuck.ok());
  ASSERT_TRUE(observer.pump_until([&] { return observer.vectors_of(1) == 1; }));

  // Churn: every newcomer costs each peer two messages (its vector, then its departure).
  bool dropped = false;
  for (int i = 0; i < 20000 && !dropped; ++i) {
    auto fd = unix_connect(sock);
    ASSERT_TRUE(fd.ok());
    fd->reset();
    if (i % 16 == 0) {
      observer.poll_once();
      for (uint16_t id : observer.gone()) dropped |= id == 1;
    }
  }
  ASSERT_TRUE(observer.pump_until([&] {
    for (uint16_t id : observer.gone())
      if (id == 1) return true;
    return false;
  }));
  EXPECT_TRUE(eventually([&] { return server->err().find("dropping peer 1: it stopped reading") != std::string::npos; }))
      << server->err();
  EXPECT_FALSE(observer.eof());
  EXPECT_TRUE(observer.errors().empty());

  // The stuck peer finds its connection closed once it reads what it was sent.
  std::byte buf[4096];
  ssize_t n;
  do {
    std::vector<UniqueFd> fds;
    n = recv_with_fds(stuck->get(), buf, fds);
  } while (n > 0);
  EXPECT_EQ(n, 0);

  // The others go on: a newcomer and the observer ring each other.
  RawPeer late(sock);
  ASSERT_TRUE(late.pump_until([&] { return late.session().ready() && late.vectors_of(late.id()) == 1; }));
  ASSERT_TRUE(observer.pump_until([&] { return observer.vectors_of(late.id()) == 1; }));
  ASSERT_TRUE(ring(observer.vector_fd(late.id(), 0)));
  EXPECT_TRUE(rung(late.vector_fd(late.id(), 0)));
  ASSERT_TRUE(ring(late.vector_fd(observer.id(), 0)));
  EXPECT_TRUE(rung(observer.vector_fd(observer.id(), 0)));
}

}  // namespace
}  // namespace nahanni::ivshmem::test
