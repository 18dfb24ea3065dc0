// ivshmem-server as a subprocess: what it sends, how it cleans up, its options and errors.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <regex>

#include "test-support.h"

namespace nahanni::ivshmem::test {
namespace {

std::string shm_name_for(const char* what) { return fmt::format("/nn-ivshmem-test-{}-{}", what, ::getpid()); }
bool shm_exists(const std::string& name) { return exists("/dev/shm" + name); }

TEST(IvshmemServer, sends_the_protocol_sequence_message_for_message) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "2"});
  ASSERT_TRUE(server);

  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready() && a.vectors_of(0) == 2; }));
  // version, id 0, -1 + memory, own id twice with an eventfd each.
  std::vector<std::pair<int64_t, bool>> expect_a{{0, false}, {0, false}, {-1, true}, {0, true}, {0, true}};
  ASSERT_EQ(a.log().size(), expect_a.size());
  for (size_t i = 0; i < expect_a.size(); ++i) {
    EXPECT_EQ(a.log()[i].value, expect_a[i].first) << i;
    EXPECT_EQ(a.log()[i].had_fd, expect_a[i].second) << i;
  }
  struct stat st{};
  ASSERT_EQ(::fstat(a.shm_fd(), &st), 0);
  EXPECT_EQ(st.st_size, 4 << 20);
  // No name given: an anonymous memfd, nothing in /dev/shm.
  char link[256] = {};
  ASSERT_GT(::readlink(fmt::format("/proc/self/fd/{}", a.shm_fd()).c_str(), link, sizeof link - 1), 0);
  EXPECT_EQ(std::string(link).rfind("/memfd:ivshmem", 0), 0u) << link;
  EXPECT_FALSE(shm_exists("/ivshmem"));

  RawPeer b(sock);
  ASSERT_TRUE(b.pump_until([&] { return b.vectors_of(1) == 2; }));
  std::vector<std::pair<int64_t, bool>> expect_b{{0, false}, {1, false}, {-1, true}, {0, true},
                                                 {0, true},  {1, true},  {1, true}};
  ASSERT_EQ(b.log().size(), expect_b.size());
  for (size_t i = 0; i < expect_b.size(); ++i) {
    EXPECT_EQ(b.log()[i].value, expect_b[i].first) << i;
    EXPECT_EQ(b.log()[i].had_fd, expect_b[i].second) << i;
  }
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(1) == 2; }));
  EXPECT_EQ(a.log().size(), 7u);

  // Both see the same memory.
  void* pa = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, a.shm_fd(), 0);
  void* pb = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, b.shm_fd(), 0);
  ASSERT_NE(pa, MAP_FAILED);
  ASSERT_NE(pb, MAP_FAILED);
  static_cast<volatile char*>(pa)[100] = 42;
  EXPECT_EQ(static_cast<volatile char*>(pb)[100], 42);
  ::munmap(pa, 4096);
  ::munmap(pb, 4096);

  // Doorbells: a rings b's vector 1, b rings a's vector 0.
  ASSERT_TRUE(ring(a.vector_fd(1, 1)));
  EXPECT_TRUE(rung(b.vector_fd(1, 1)));
  ASSERT_TRUE(ring(b.vector_fd(0, 0)));
  EXPECT_TRUE(rung(a.vector_fd(0, 0)));

  b.close();
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 1; }));
  EXPECT_EQ(a.gone()[0], 1);
  EXPECT_EQ(a.log().back().value, 1);
  EXPECT_FALSE(a.log().back().had_fd);
  // Ids rotate: the next newcomer is 2, not the id just freed.
  RawPeer c(sock);
  ASSERT_TRUE(c.pump_until([&] { return c.session().ready(); }));
  EXPECT_EQ(c.id(), 2);
  EXPECT_TRUE(a.errors().empty());
  EXPECT_TRUE(b.errors().empty());
}

TEST(IvshmemServer, sigterm_removes_socket_pid_file_and_created_shm) {
  TempDir dir;
  std::string sock = dir.file("sock"), pid = dir.file("pid"), name = shm_name_for("term");
  auto server = start_server(dir, sock, {"-M", name, "-p", pid, "-l", "1M"});
  ASSERT_TRUE(server);
  EXPECT_TRUE(exists(sock));
  EXPECT_TRUE(shm_exists(name));
  EXPECT_EQ(read_file(pid), std::to_string(server->pid()) + "\n");
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready(); }));
  struct stat st{};
  ASSERT_EQ(::fstat(a.shm_fd(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait(), 0);
  EXPECT_FALSE(exists(sock));
  EXPECT_FALSE(exists(pid));
  EXPECT_FALSE(shm_exists(name));
  EXPECT_TRUE(a.wait_eof());
}

TEST(IvshmemServer, keep_shm_leaves_the_object_and_sigint_also_stops) {
  TempDir dir;
  std::string sock = dir.file("sock"), name = shm_name_for("keep");
  auto server = start_server(dir, sock, {"-M", name, "--keep-shm"});
  ASSERT_TRUE(server);
  server->signal(SIGINT);
  EXPECT_EQ(server->wait(), 0);
  EXPECT_FALSE(exists(sock));
  EXPECT_TRUE(shm_exists(name));
  ::shm_unlink(name.c_str());
}

TEST(IvshmemServer, shm_dir_gives_an_unlinked_file_and_rounds_size_up) {
  TempDir dir, shmdir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-m", shmdir.path(), "-l", "3M"});
  ASSERT_TRUE(server);
  EXPECT_NE(server->err().find("ivshmem-server: warning: size 3 MiB is not a power of 2, using 4 MiB"),
            std::string::npos)
      << server->err();
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready(); }));
  struct stat st{};
  ASSERT_EQ(::fstat(a.shm_fd(), &st), 0);
  EXPECT_EQ(st.st_size, 4 << 20);
  EXPECT_EQ(st.st_nlink, 0u);
  DIR* d = ::opendir(shmdir.path().c_str());
  int entries = 0;
  while (dirent* e = ::readdir(d)) entries += e->d_name[0] != '.';
  ::closedir(d);
  EXPECT_EQ(entries, 0);
}

struct BadRun {
  std::vector<std::string> args;
  std::string message;
};

TEST(IvshmemServer, bad_options_fail_cleanly_and_leave_nothing_behind) {
  TempDir dir;
  std::string sock = dir.file("sock"), pid = dir.file("pid"), name = shm_name_for("bad");
  std::vector<BadRun> runs = {
      {{"-n", "100"}, "ivshmem-server: too many requested vectors (max is 64)\n"},
      {{"-n", "x"}, "ivshmem-server: cannot parse n_vectors\n"},
      {{"-n", "0"}, "ivshmem-server: cannot parse n_vectors\n"},
      {{"-l", "4Q"}, "ivshmem-server: cannot parse size '4Q'\n"},
      {{"--max-peers", "0"}, "ivshmem-server: cannot parse max-peers '0' (1..65536)\n"},
      {{"--socket-mode", "999"}, "ivshmem-server: cannot parse socket-mode '999' (octal, e.g. 0660)\n"},
      {{"--allow-uid", "abc"}, "ivshmem-server: cannot parse uid 'abc'\n"},
      {{"--bogus"}, "ivshmem-server: invalid option '--bogus'\n"},
      {{"extra"}, "ivshmem-server: unexpected argument 'extra'\n"},
      {{"-m", dir.file("missing")}, "ivshmem-server: cannot open shm file " + dir.file("missing") +
                                        ": No such file or directory\n"},
  };
  for (auto& run : runs) {
    std::vector<std::string> argv{server_binary(), "-F", "-S", sock, "-p", pid};
    if (run.args[0] != "-m") argv.insert(argv.end(), {"-M", name});
    argv.insert(argv.end(), run.args.begin(), run.args.end());
    Subprocess p(argv, dir);
    EXPECT_EQ(p.wait(), 1) << run.args[0];
    EXPECT_EQ(p.err().substr(0, p.err().find('\n') + 1), run.message);
    EXPECT_FALSE(exists(sock)) << run.args[0];
    EXPECT_FALSE(exists(pid)) << run.args[0];
    EXPECT_FALSE(shm_exists(name)) << run.args[0];
  }
  Subprocess verbose({server_binary(), "-v", "-S", sock}, dir);
  EXPECT_EQ(verbose.wait(), 1);
  EXPECT_EQ(verbose.err().substr(0, verbose.err().find('\n')), "ivshmem-server: cannot use verbose in daemon mode");
  Subprocess help({server_binary(), "-h"}, dir);
  EXPECT_EQ(help.wait(), 0);
  EXPECT_NE(help.out().find("--max-peers"), std::string::npos);
}

TEST(IvshmemServer, replaces_a_stale_socket_but_not_a_live_one) {
  TempDir dir;
  std::string sock = dir.file("sock");
  {
    // A socket file nobody listens on, as a crashed server leaves it.
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  }
  ASSERT_TRUE(exists(sock));
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  Subprocess second({server_binary(), "-F", "-S", sock}, dir);
  EXPECT_EQ(second.wait(), 1);
  EXPECT_NE(second.err().find("Address already in use"), std::string::npos) << second.err();
  // The loser did not remove the winner's socket.
  RawPeer a(sock);
  EXPECT_TRUE(a.pump_until([&] { return a.session().ready(); }));
}

TEST(IvshmemServer, socket_mode_sets_permissions) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"--socket-mode", "0600"});
  ASSERT_TRUE(server);
  struct stat st{};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST(IvshmemServer, allow_list_refuses_other_uids_and_gids) {
  TempDir dir;
  std::string sock = dir.file("sock");
  unsigned other = ::getuid() + 1;
  auto server = start_server(dir, sock, {"--allow-uid", std::to_string(other), "--allow-gid", std::to_string(::getgid() + 1)});
  ASSERT_TRUE(server);
  RawPeer refused(sock);
  EXPECT_TRUE(refused.wait_eof());
  EXPECT_TRUE(refused.log().empty());
  auto allowing = start_server(dir, dir.file("sock2"), {"--allow-uid", fmt::format("{},{}", other, ::getuid())});
  ASSERT_TRUE(allowing);
  RawPeer welcome(dir.file("sock2"));
  EXPECT_TRUE(welcome.pump_until([&] { return welcome.session().ready(); }));
  EXPECT_EQ(welcome.id(), 0);
}

TEST(IvshmemServer, max_peers_refuses_the_extra_peer) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"--max-peers", "1"});
  ASSERT_TRUE(server);
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready(); }));
  RawPeer b(sock);
  EXPECT_TRUE(b.wait_eof());
  EXPECT_TRUE(b.log().empty());
}

TEST(IvshmemServer, takes_a_socket_from_systemd) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto listener = unix_listen(sock);
  ASSERT_TRUE(listener.ok());
  auto server = start_server(dir, "/nonexistent/ignored", {}, {.listen_fd = listener->get()});
  ASSERT_TRUE(server);
  listener->reset();  // only the server holds it now
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready(); }));
  EXPECT_EQ(a.id(), 0);
  server->signal(SIGTERM);
  EXPECT_EQ(server->wait(), 0);
  // systemd owns that socket file: the server leaves it.
  EXPECT_TRUE(exists(sock));
}

TEST(IvshmemServer, sigusr1_dumps_peers_vectors_and_bytes) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "3"});
  ASSERT_TRUE(server);
  RawPeer a(sock), b(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(1) == 3; }));
  ASSERT_TRUE(b.pump_until([&] { return b.vectors_of(1) == 3; }));
  server->signal(SIGUSR1);
  ASSERT_TRUE(eventually([&] { return server->out().find("total sent") != std::string::npos; }));
  std::string out = server->out();
  EXPECT_NE(out.find("ivshmem-server status: 2 peers, 2 connected since start"), std::string::npos) << out;
  // a: 3 + 3 own + 3 of b = 9 messages; b: 3 + 3 of a + 3 own = 9 messages; 8 bytes each.
  EXPECT_NE(out.find(fmt::format("peer 0: pid {} uid {} gid {} vectors 3 queued 0 sent 72 bytes", ::getpid(),
                                 ::getuid(), ::getgid())),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("peer 1: pid"), std::string::npos) << out;
  EXPECT_NE(out.find("total sent to connected peers: 144 bytes"), std::string::npos) << out;
}

TEST(IvshmemServer, a_peer_may_ask_for_more_vectors) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1", "--max-vectors", "4"});
  ASSERT_TRUE(server);
  RawPeer a(sock), b(sock);
  ASSERT_TRUE(b.pump_until([&] { return b.vectors_of(1) == 1 && b.vectors_of(0) == 1; }));
  auto req = encode_message(3);
  ASSERT_EQ(send_with_fds(b.sock(), req, {}), 8);
  ASSERT_TRUE(b.pump_until([&] { return b.vectors_of(1) == 3; }));
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(1) == 3; }));
  EXPECT_EQ(a.vectors_of(0), 1u);
  ASSERT_TRUE(ring(a.vector_fd(1, 2)));
  EXPECT_TRUE(rung(b.vector_fd(1, 2)));
  // A peer asks once: a second request, even a valid one, gets it dropped; the others are told.
  ASSERT_EQ(send_with_fds(b.sock(), req, {}), 8);
  EXPECT_TRUE(b.wait_eof());
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 1; }));
  EXPECT_TRUE(eventually([&] { return server->err().find("dropping peer 1: it sent more than one vector request") != std::string::npos; }))
      << server->err();
  // Beyond --max-vectors: that peer is dropped, the others are told.
  RawPeer c(sock);
  ASSERT_TRUE(c.pump_until([&] { return c.session().ready() && c.vectors_of(c.id()) == 1; }));
  auto too_many = encode_message(5);
  ASSERT_EQ(send_with_fds(c.sock(), too_many, {}), 8);
  EXPECT_TRUE(c.wait_eof());
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 2; }));
  EXPECT_TRUE(eventually([&] { return server->err().find("dropping peer 2: it asked for 5 vectors (max is 4)") != std::string::npos; }))
      << server->err();
  EXPECT_EQ(a.vectors_of(0), 1u);
  EXPECT_TRUE(server->running());
}

TEST(IvshmemServer, a_peer_sending_descriptors_is_dropped) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  RawPeer a(sock), b(sock);
  ASSERT_TRUE(b.pump_until([&] { return b.session().ready(); }));
  auto req = encode_message(1);
  int fd = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_EQ(send_with_fds(b.sock(), req, std::span<const int>(&fd, 1)), 8);
  ::close(fd);
  EXPECT_TRUE(b.wait_eof());
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 1; }));
  EXPECT_TRUE(server->running());
}

TEST(IvshmemServer, daemon_mode_reports_failure_and_cleans_up_at_sigterm) {
  TempDir dir;
  std::string sock = dir.file("sock"), pid = dir.file("pid");
  Subprocess failing({server_binary(), "-S", sock, "-p", dir.file("missing/pid")}, dir);
  EXPECT_EQ(failing.wait(), 1);
  EXPECT_EQ(failing.err(), "ivshmem-server: cannot write pid file: No such file or directory\n");
  EXPECT_FALSE(exists(sock));

  Subprocess starter({server_binary(), "-S", sock, "-p", pid}, dir);
  ASSERT_EQ(starter.wait(), 0) << starter.err();
  // The starter returns once the daemon serves: the pid file and socket are there.
  ASSERT_TRUE(exists(pid));
  pid_t daemon = std::stoi(read_file(pid));
  EXPECT_NE(daemon, starter.pid());
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready(); }));
  ASSERT_EQ(::kill(daemon, SIGTERM), 0);
  EXPECT_TRUE(a.wait_eof());
  EXPECT_TRUE(eventually([&] { return !exists(pid) && !exists(sock); }));
}

}  // namespace
}  // namespace nahanni::ivshmem::test
