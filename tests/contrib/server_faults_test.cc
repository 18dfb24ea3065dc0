// ivshmem-server under hostile peers and scarce resources (issue #10): the socket is owner-only
// by default, the uid allow-list holds against a real second uid, a peer cannot truncate the
// shared memory, a peer vanishing mid-request is dropped without harm, a peer flooding requests
// is dropped without starving the others, running out of
// descriptors refuses newcomers at once while the others are served, and memory the file
// system cannot hold is an error at start-up. docs/system/security.rst states the rules.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <atomic>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "test-support.h"

namespace nahanni::ivshmem::test {
namespace {

// CPU time (user + system) of `pid` in clock ticks, from /proc/<pid>/stat.
uint64_t cpu_ticks(pid_t pid) {
  std::string stat = read_file(fmt::format("/proc/{}/stat", pid));
  size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  uint64_t ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i)
    if (i == 14 || i == 15) ticks += std::stoull(field);
  return ticks;
}

// Not a benchmark: spinning burns a whole core, idling next to nothing; half the interval is
// a generous bound on a loaded machine.
bool stays_idle(pid_t pid) {
  uint64_t before = cpu_ticks(pid);
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(cpu_ticks(pid) - before) / static_cast<double>(::sysconf(_SC_CLK_TCK)) < wall / 2;
}

// The RLIMIT_NOFILE that leaves exactly `spare` descriptor numbers free in `pid`.
rlim_t limit_leaving(pid_t pid, int spare) {
  std::set<int> used;
  if (DIR* d = ::opendir(fmt::format("/proc/{}/fd", pid).c_str())) {
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') used.insert(std::atoi(e->d_name));
    ::closedir(d);
  }
  int free_slots = 0;
  for (rlim_t limit = 0;; ++limit) {
    if (used.count(static_cast<int>(limit))) continue;
    if (free_slots == spare) return limit;
    ++free_slots;
  }
}

bool is_root() { return ::geteuid() == 0; }

TEST(IvshmemServerFaults, socket_is_owner_only_by_default_whatever_the_umask) {
  TempDir dir;
  std::string sock = dir.file("sock");
  mode_t old = ::umask(0);  // the server inherits it: the default must not depend on it
  auto server = start_server(dir, sock);
  ::umask(old);
  ASSERT_TRUE(server);
  struct stat st{};
  ASSERT_EQ(::stat(sock.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

// Connects to `sock` as uid/gid 65534 in a forked child; its exit status says what it got:
// 0 refused (EOF before any byte), 2 served (bytes arrived), 3 could not connect.
int connect_as_nobody(const std::string& sock) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) < 0 || ::setgid(65534) < 0 || ::setuid(65534) < 0) ::_exit(4);
    auto fd = unix_connect(sock);
    if (!fd) ::_exit(3);
    pollfd p{fd->get(), POLLIN, 0};
    if (::poll(&p, 1, 60000) != 1) ::_exit(5);
    char buf[8];
    ::_exit(::read(fd->get(), buf, sizeof buf) == 0 ? 0 : 2);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(IvshmemServerFaults, allow_list_refuses_a_peer_running_as_another_uid) {
  if (!is_root()) GTEST_SKIP() << "needs root to run a peer under a second uid";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);  // uid 65534 may reach the socket
  std::string open_sock = dir.file("open"), listed_sock = dir.file("listed");
  auto open_server = start_server(dir, open_sock, {"--socket-mode", "0666"});
  auto listed_server = start_server(dir, listed_sock, {"--socket-mode", "0666", "--allow-uid", std::to_string(::getuid())});
  ASSERT_TRUE(open_server && listed_server);
  // Without a list uid 65534 is served, so a refusal below is the list's doing.
  EXPECT_EQ(connect_as_nobody(open_sock), 2);
  EXPECT_EQ(connect_as_nobody(listed_sock), 0);
  EXPECT_TRUE(eventually([&] { return listed_server->err().find("uid 65534 gid 65534: not allowed") != std::string::npos; }))
      << listed_server->err();
  RawPeer root(listed_sock);
  EXPECT_TRUE(root.pump_until([&] { return root.session().ready(); }));
  EXPECT_EQ(root.id(), 0);  // the refused peer took no id
}

TEST(IvshmemServerFaults, default_socket_keeps_other_uids_out) {
  if (!is_root()) GTEST_SKIP() << "needs root to run a peer under a second uid";
  TempDir dir;
  ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock);
  ASSERT_TRUE(server);
  EXPECT_EQ(connect_as_nobody(sock), 3);
}

TEST(IvshmemServerFaults, a_peer_cannot_resize_the_shared_memory) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-l", "1M"});
  ASSERT_TRUE(server);
  RawPeer hostile(sock), victim(sock);
  ASSERT_TRUE(hostile.pump_until([&] { return hostile.session().ready(); }));
  ASSERT_TRUE(victim.pump_until([&] { return victim.session().ready(); }));
  // Truncating would turn every other peer's next access into SIGBUS.
  EXPECT_EQ(::ftruncate(hostile.shm_fd(), 0), -1);
  EXPECT_EQ(errno, EPERM);
  EXPECT_EQ(::ftruncate(hostile.shm_fd(), 2 << 20), -1);
  int seals = ::fcntl(hostile.shm_fd(), F_GET_SEALS);
  EXPECT_EQ(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL), F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
  EXPECT_EQ(::fcntl(hostile.shm_fd(), F_ADD_SEALS, F_SEAL_WRITE), -1);  // nor freeze it for the others
  struct stat st{};
  ASSERT_EQ(::fstat(victim.shm_fd(), &st), 0);
  EXPECT_EQ(st.st_size, 1 << 20);
  void* p = ::mmap(nullptr, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, victim.shm_fd(), 0);
  ASSERT_NE(p, MAP_FAILED);
  static_cast<volatile char*>(p)[(1 << 20) - 1] = 1;  // the last page is still there
  ::munmap(p, 1 << 20);
}

TEST(IvshmemServerFaults, a_peer_vanishing_mid_request_is_dropped_and_the_others_go_on) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1"});
  ASSERT_TRUE(server);
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready(); }));
  int fds = server->fd_count();  // with a alone: a's socket and eventfd
  {
    RawPeer b(sock);
    ASSERT_TRUE(b.pump_until([&] { return b.session().ready(); }));
    EXPECT_EQ(server->fd_count(), fds + 2);
    auto request = encode_message(2);
    ASSERT_EQ(::write(b.sock(), request.data(), 4), 4);  // half of a vector request, then gone
  }
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 1; }));
  EXPECT_EQ(a.gone()[0], 1);
  // b's socket and eventfd are closed, and no half-read request keeps the loop busy.
  EXPECT_TRUE(eventually([&] { return server->fd_count() == fds; })) << server->fd_count() << " != " << fds;
  EXPECT_TRUE(stays_idle(server->pid()));
  RawPeer c(sock);
  ASSERT_TRUE(c.pump_until([&] { return c.session().ready() && c.vectors_of(c.id()) == 1; }));
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(c.id()) == 1; }));
  ASSERT_TRUE(ring(a.vector_fd(c.id(), 0)));
  EXPECT_TRUE(rung(c.vector_fd(c.id(), 0)));
  EXPECT_TRUE(a.errors().empty());
  EXPECT_TRUE(server->running());
}

// The vector request is the one thing a peer may ever send, so a peer writing requests as
// fast as it can is dropped at its second one: it cannot hold the server's loop, and a
// newcomer arriving meanwhile gets its whole greeting.
TEST(IvshmemServerFaults, a_peer_flooding_requests_is_dropped_and_a_newcomer_is_still_greeted) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1"});
  ASSERT_TRUE(server);
  RawPeer a(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.session().ready() && a.vectors_of(0) == 1; }));
  int fds = server->fd_count();
  RawPeer flooder(sock);
  ASSERT_TRUE(flooder.pump_until([&] { return flooder.vectors_of(1) == 1 && flooder.vectors_of(0) == 1; }));
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(1) == 1; }));

  std::atomic<uint64_t> written{0};
  int flood_error = 0;
  std::thread flood([&] {
    auto request = encode_message(1);  // valid: the one vector it has
    auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (std::chrono::steady_clock::now() < deadline) {
      ssize_t w = ::send(flooder.sock(), request.data(), request.size(), MSG_NOSIGNAL);
      if (w == static_cast<ssize_t>(request.size())) {
        written.fetch_add(1);
        continue;
      }
      if (w < 0 && errno == EAGAIN) {
        pollfd p{flooder.sock(), POLLOUT, 0};
        ::poll(&p, 1, 100);
        continue;
      }
      flood_error = w < 0 ? errno : -1;
      return;
    }
  });
  ASSERT_TRUE(eventually([&] { return written.load() >= 2; }));
  RawPeer newcomer(sock);
  bool greeted = newcomer.pump_until(
      [&] { return newcomer.session().ready() && newcomer.vectors_of(newcomer.id()) == 1 && newcomer.vectors_of(0) == 1; });
  flood.join();
  ASSERT_TRUE(greeted);
  EXPECT_EQ(newcomer.id(), 2);
  EXPECT_TRUE(newcomer.errors().empty());
  EXPECT_TRUE(flood_error == EPIPE || flood_error == ECONNRESET) << flood_error;
  EXPECT_TRUE(flooder.wait_eof());
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 1; }));
  EXPECT_EQ(a.gone()[0], 1);
  EXPECT_TRUE(eventually([&] {
    return server->err().find("dropping peer 1: it sent more than one vector request") != std::string::npos;
  })) << server->err();
  // The newcomer and a still ring each other.
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(2) == 1; }));
  ASSERT_TRUE(ring(a.vector_fd(2, 0)));
  EXPECT_TRUE(rung(newcomer.vector_fd(2, 0)));
  ASSERT_TRUE(ring(newcomer.vector_fd(0, 0)));
  EXPECT_TRUE(rung(a.vector_fd(0, 0)));

  // Nothing of the flooder or the newcomer is left, and the loop goes back to sleep.
  newcomer.close();
  ASSERT_TRUE(a.pump_until([&] { return a.gone().size() == 2; }));
  EXPECT_TRUE(eventually([&] { return server->fd_count() == fds; })) << server->fd_count() << " != " << fds;
  EXPECT_TRUE(stays_idle(server->pid()));
  EXPECT_TRUE(server->running());
}

TEST(IvshmemServerFaults, out_of_descriptors_refuses_newcomers_at_once_and_serves_the_others) {
  TempDir dir;
  std::string sock = dir.file("sock");
  auto server = start_server(dir, sock, {"-n", "1"});
  ASSERT_TRUE(server);
  RawPeer a(sock), b(sock);
  ASSERT_TRUE(a.pump_until([&] { return a.vectors_of(1) == 1; }));
  ASSERT_TRUE(b.pump_until([&] { return b.vectors_of(0) == 1 && b.vectors_of(1) == 1; }));
  int fds = server->fd_count();
  rlimit original{};
  ASSERT_EQ(::prlimit(server->pid(), RLIMIT_NOFILE, nullptr, &original), 0);
  rlimit none_left{limit_leaving(server->pid(), 0), original.rlim_max};
  ASSERT_EQ(::prlimit(server->pid(), RLIMIT_NOFILE, &none_left, nullptr), 0);

  // Newcomers see their connection closed at once instead of waiting in the backlog.
  for (int i = 0; i < 3; ++i) {
    RawPeer refused(sock);
    ASSERT_TRUE(refused.connected());
    EXPECT_TRUE(refused.wait_eof());
    EXPECT_TRUE(refused.log().empty());
  }
  EXPECT_TRUE(eventually([&] { return server->err().find("refusing a new peer: Too many open files (2 refused so far)") != std::string::npos; }))
      << server->err();
  EXPECT_EQ(server->err().find("(3 refused so far)"), std::string::npos);  // powers of two only
  EXPECT_TRUE(stays_idle(server->pid()));
  EXPECT_EQ(server->fd_count(), fds);
  // The peers already there are served: they ring each other and hear of departures.
  ASSERT_TRUE(ring(a.vector_fd(1, 0)));
  EXPECT_TRUE(rung(b.vector_fd(1, 0)));
  ASSERT_TRUE(ring(b.vector_fd(0, 0)));
  EXPECT_TRUE(rung(a.vector_fd(0, 0)));

  // With descriptors again, newcomers are welcome.
  ASSERT_EQ(::prlimit(server->pid(), RLIMIT_NOFILE, &original, nullptr), 0);
  RawPeer late(sock);
  EXPECT_TRUE(late.pump_until([&] { return late.session().ready(); }));
  EXPECT_EQ(late.id(), 2);
  b.close();
  EXPECT_TRUE(a.pump_until([&] { return a.gone().size() == 1; }));
  EXPECT_TRUE(server->running());
}

// Runs the server in a private mount namespace whose /dev/shm (or DIR) is a 1 MiB tmpfs, and
// lists what is left in it afterwards.
struct TmpfsRun {
  int code;
  std::string err, left;
};
TmpfsRun server_in_small_tmpfs(const TempDir& dir, const std::string& mount_point, const std::string& args) {
  std::string script = fmt::format(
      "mount -t tmpfs -o size=1M nn-ivfault {0} && {1} -F -S {2} {3}; echo rc=$?; ls -A {0} > {4}", mount_point,
      server_binary(), dir.file("sock"), args, dir.file("left"));
  Subprocess p({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script}, dir);
  auto code = p.wait();
  std::string out = p.out();
  size_t at = out.find("rc=");
  return {code && *code == 0 && at != std::string::npos ? std::atoi(out.c_str() + at + 3) : -1, p.err(),
          read_file(dir.file("left"))};
}

// Root alone is not enough in a container without CAP_SYS_ADMIN: try it.
bool can_mount_privately(const TempDir& dir) {
  if (!is_root() || !exists("/usr/bin/unshare")) return false;
  Subprocess probe({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                    "mount -t tmpfs nn-probe " + dir.path()},
                   dir);
  return probe.wait() == 0;
}

TEST(IvshmemServerFaults, memory_the_file_system_cannot_hold_is_an_error_at_start) {
  TempDir dir, mnt;
  if (!can_mount_privately(mnt)) GTEST_SKIP() << "needs root, unshare(1) and mount rights for a private tmpfs mount";
  TmpfsRun shm = server_in_small_tmpfs(dir, "/dev/shm", "-M /nn-ivfault -l 4M");
  EXPECT_EQ(shm.code, 1);
  EXPECT_EQ(shm.err, "ivshmem-server: cannot allocate 4 MiB of shared memory (shm /nn-ivfault): No space left on device\n");
  EXPECT_EQ(shm.left, "");
  EXPECT_FALSE(exists(dir.file("sock")));

  TmpfsRun file = server_in_small_tmpfs(dir, mnt.path(), fmt::format("-m {} -l 4M", mnt.path()));
  EXPECT_EQ(file.code, 1);
  EXPECT_EQ(file.err,
            fmt::format("ivshmem-server: cannot allocate 4 MiB of shared memory (file in {}): No space left on device\n",
                        mnt.path()));
  EXPECT_EQ(file.left, "");
  EXPECT_FALSE(exists(dir.file("sock")));
}

}  // namespace
}  // namespace nahanni::ivshmem::test
