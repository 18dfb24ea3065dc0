// Fault injection for the emulator's ivshmem devices (issue #10): a server killed and
// restarted under running emulators, a hostile server played by the test (garbage, too many
// descriptors, half a message, too little memory, no memory at all), the emulator out of file
// descriptors, and a memory backend on a full tmpfs. For each fault: a clear error or QMP
// event, no crash, no leaked descriptor or /dev/shm file, no spinning, and the guest-visible
// memory and the other peers keep working. docs/system/security.rst states the behaviours.
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ivshmem_test_support.h"
#include "libqtest.h"
#include "pci.h"
#include "util/socket.h"

namespace nahanni::qtest {
namespace {

using namespace ivtest;
using json = nlohmann::json;

constexpr int kSlot = 4;
constexpr uint32_t kStateSetupComplete = 1u << 0, kStateServerConnected = 1u << 1;

// CPU time (user + system) of `pid` in clock ticks, from /proc/<pid>/stat.
uint64_t cpu_ticks(pid_t pid) {
  std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

// Not a benchmark: a process spinning on a dead socket or a flood of messages burns a whole
// core; an idle one burns next to nothing. Half of the interval is a generous bound on a
// loaded 2-core machine.
bool stays_idle(pid_t pid, std::chrono::milliseconds interval = 2s) {
  uint64_t before = cpu_ticks(pid);
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(interval);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = static_cast<double>(cpu_ticks(pid) - before) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return cpu < wall / 2;
}

// Our ivshmem-server in the foreground, killable and restartable on the same socket.
class KillableServer {
 public:
  KillableServer(const TempDir& dir, std::string memory_options)
      : dir_(dir), socket_(dir.file("ivshmem.sock")), memory_(std::move(memory_options)) {}
  ~KillableServer() {
    if (process_.running()) process_.terminate(5s);
  }
  bool start() {
    log_ = dir_.file(fmt::format("server{}.log", ++starts_));
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    process_ = ChildProcess::spawn(
        fmt::format("{} -F -v -S {} -l 1M -n 2 {}", server_binary(), socket_, memory_), -1, fd);
    ::close(fd);
    return eventually([&] { return log().find("listening on") != std::string::npos || !process_.running(); }) &&
           process_.running();
  }
  ExitStatus kill() { return process_.kill_now(); }
  const std::string& socket() const { return socket_; }
  std::string log() const { return read_text(log_); }

 private:
  const TempDir& dir_;
  std::string socket_, memory_, log_;
  int starts_ = 0;
  ChildProcess process_;
};

// One emulator with an ivshmem-doorbell (id iv0) in slot 4, its BARs mapped.
class Emulator {
 public:
  explicit Emulator(const std::string& chardev_options, const std::string& device_options = "vectors=2") {
    qts_ = std::make_unique<QTestState>(
        fmt::format("-machine pc -chardev socket,id=c0,{} -device ivshmem-doorbell,id=iv0,chardev=c0,addr={},{}",
                    chardev_options, kSlot, device_options));
    bus_ = std::make_unique<PciBus>(*qts_);
    dev_.emplace(bus_->device_at(kSlot));
    bar0_ = dev_->iomap(0);
    dev_->msix_enable();
    bar2_ = dev_->iomap(2);
    dev_->enable();
  }
  QTestState& qts() { return *qts_; }
  pid_t pid() const { return qts_->pid(); }
  uint32_t reg(uint32_t offset) { return dev_->bar_readl(bar0_, offset); }
  void ring(unsigned peer, unsigned vector) { dev_->bar_writel(bar0_, kDoorbell, peer << 16 | vector); }
  std::vector<uint8_t> memory(uint64_t offset, size_t len) { return qts_->memread(bar2_.addr + offset, len); }
  void set_memory(uint64_t offset, const std::vector<uint8_t>& data) { qts_->memwrite(bar2_.addr + offset, data); }
  json status() {
    json r = qts_->qmp(json{{"execute", "qom-get"},
                            {"arguments", {{"path", "/machine/peripheral/iv0"}, {"property", "status"}}}});
    if (!r.contains("return")) throw QTestError("qom-get status failed: " + r.dump());
    return r["return"];
  }
  bool knows_peer(unsigned peer) {
    dev_->bar_writel(bar0_, kPeerSelect, peer);
    return reg(kPeerVectors) > 0;
  }

 private:
  std::unique_ptr<QTestState> qts_;
  std::unique_ptr<PciBus> bus_;
  std::optional<PciDevice> dev_;
  PciBar bar0_, bar2_;
};

std::vector<uint8_t> pattern(uint8_t seed, size_t len = 4096) {
  std::vector<uint8_t> v(len);
  for (size_t i = 0; i < len; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

size_t line_count(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// --- 1. The server dies, and comes back ---

TEST(IvshmemFaults, killed_server_leaves_memory_peers_and_an_event) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivfault");
  KillableServer server(dir, "-m " + dir.path());
  ASSERT_TRUE(server.start()) << server.log();
  Emulator a("path=" + server.socket());
  Emulator b("path=" + server.socket());
  ASSERT_EQ(a.reg(kIvPosition), 0u);
  ASSERT_EQ(b.reg(kIvPosition), 1u);
  ASSERT_TRUE(eventually([&] { return a.knows_peer(1) && b.knows_peer(0); })) << a.status().dump() << b.status().dump();
  a.set_memory(0, pattern(1));
  ASSERT_EQ(b.memory(0, 4096), pattern(1));
  int a_fds = open_fd_count(a.pid());

  EXPECT_EQ(server.kill().signal, SIGKILL);
  for (Emulator* e : {&a, &b}) {
    json event = e->qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
    EXPECT_EQ(event["data"]["device"], "iv0");
    EXPECT_EQ(event["data"]["path"], "/machine/peripheral/iv0");
    EXPECT_EQ(e->reg(kState), kStateSetupComplete);  // connected bit clear, setup still complete
    EXPECT_EQ(e->status()["server-connected"], false);
    // The memory is the guest's: contents intact, and still shared between the two.
    EXPECT_EQ(e->memory(0, 4096), pattern(1));
  }
  b.set_memory(8192, pattern(2));
  EXPECT_EQ(a.memory(8192, 4096), pattern(2));
  // The eventfds are direct between peers: rings still arrive.
  a.ring(1, 1);
  EXPECT_TRUE(eventually([&] { return b.reg(kRungVectors) == 2u; }));
  // Only the server's socket went away.
  EXPECT_EQ(open_fd_count(a.pid()), a_fds - 1);

  // b goes; without a server a cannot know. Its rings go into eventfds nobody reads (sent,
  // harmless); rings to ids it never knew are dropped and counted. Neither logs anything.
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
  std::string quiet = a.qts().stderr_text();
  json st0 = a.status();
  for (int i = 0; i < 200; ++i) {
    a.ring(1, 0);
    a.ring(7, 0);
  }
  json st1 = a.status();
  EXPECT_EQ(st1["doorbells-sent"][0].get<uint64_t>() - st0["doorbells-sent"][0].get<uint64_t>(), 200u);
  EXPECT_EQ(st1["doorbells-dropped"].get<uint64_t>() - st0["doorbells-dropped"].get<uint64_t>(), 200u);
  EXPECT_EQ(a.qts().stderr_text(), quiet);
  EXPECT_EQ(line_count(quiet), 1u) << quiet;  // the one warning about the lost server
  EXPECT_NE(quiet.find("lost the connection to the ivshmem server"), std::string::npos) << quiet;
  EXPECT_TRUE(stays_idle(a.pid()));
  EXPECT_EQ(open_fd_count(a.pid()), a_fds - 1);
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
}

// A restarted server with a fresh memfd offers other memory than the guest has: the device
// does not swap the guest's memory under it; it stays disconnected and says why.
TEST(IvshmemFaults, restarted_server_with_new_memory_is_not_rejoined) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivfault");
  KillableServer server(dir, "");
  ASSERT_TRUE(server.start()) << server.log();
  Emulator a(fmt::format("path={},reconnect=1", server.socket()));
  a.set_memory(0, pattern(3));
  int fds = open_fd_count(a.pid());
  server.kill();
  a.qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  ASSERT_TRUE(server.start()) << server.log();
  json refused = a.qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  EXPECT_EQ(refused["data"]["reason"], "the server offers different shared memory than the guest already uses");
  EXPECT_EQ(a.status()["server-connected"], false);
  EXPECT_EQ(a.reg(kState) & kStateServerConnected, 0u);
  EXPECT_EQ(a.memory(0, 4096), pattern(3));
  EXPECT_EQ(a.reg(kIvPosition), 0u);
  // A newcomer gets the new server's memory, which is not a's.
  Emulator c("path=" + server.socket());
  EXPECT_NE(c.memory(0, 4096), pattern(3));
  EXPECT_TRUE(stays_idle(a.pid()));
  EXPECT_LE(open_fd_count(a.pid()), fds);  // the new connection replaced the old one; its fds were closed
  EXPECT_TRUE(c.qts().quit().success());
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
}

// A server restarted on the same POSIX shm object (-M NAME survives a SIGKILL) hands out the
// memory the guest already has: the device rejoins, with the id the new server gives it.
TEST(IvshmemFaults, restarted_server_with_the_same_memory_is_rejoined) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivfault");
  std::string name = unique_name("nahanni-ivfault");
  KillableServer server(dir, "-M /" + name);
  ASSERT_TRUE(server.start()) << server.log();
  struct Unlink {
    std::string path;
    ~Unlink() { ::unlink(path.c_str()); }
  } unlink_at_end{"/dev/shm/" + name};
  Emulator a(fmt::format("path={},reconnect=1", server.socket()));
  a.set_memory(0, pattern(4));
  server.kill();
  a.qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  ASSERT_TRUE(server.start()) << server.log();
  json joined = a.qts().qmp_eventwait("IVSHMEM_SERVER_CONNECTED");
  EXPECT_EQ(joined["data"]["device"], "iv0");
  EXPECT_EQ(joined["data"]["id"], 0);
  ASSERT_TRUE(eventually([&] { return a.reg(kState) == (kStateSetupComplete | kStateServerConnected); }));
  // A newcomer shares a's memory and they ring each other through the new server's eventfds.
  Emulator c("path=" + server.socket());
  EXPECT_EQ(c.memory(0, 4096), pattern(4));
  ASSERT_TRUE(eventually([&] { return a.knows_peer(1) && c.knows_peer(0); }));
  a.ring(1, 0);
  EXPECT_TRUE(eventually([&] { return c.reg(kRungVectors) == 1u; }));
  c.ring(0, 1);
  EXPECT_TRUE(eventually([&] { return a.reg(kRungVectors) == 2u; }));
  EXPECT_TRUE(c.qts().quit().success());
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
}

// --- 2. A hostile server, played by the test ---

// Listens on `path`; the first connection gets version 0, id 3 and a memfd of `memory_size`
// bytes, then `script` runs with the connection; the connection closes when it returns.
class HostileServer {
 public:
  using Script = std::function<void(int conn)>;
  HostileServer(const std::string& path, uint64_t memory_size, Script script) : path_(path) {
    listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(listener_.get(), 4) < 0)
      throw std::runtime_error("bind/listen " + path);
    memory_ = UniqueFd(::memfd_create("hostile", MFD_CLOEXEC));
    if (!memory_ || ::ftruncate(memory_.get(), static_cast<off_t>(memory_size)) < 0)
      throw std::runtime_error("memfd");
    thread_ = std::thread([this, script] {
      UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) return;
      send(conn.get(), 0);
      send(conn.get(), 3);
      send(conn.get(), -1, {memory_.get()});
      script(conn.get());
      done_ = true;
      // Hold the connection until the emulator closes it, unless the script closed it.
      char c;
      while (::read(conn.get(), &c, 1) > 0) {}
    });
  }
  ~HostileServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
  }
  static void send(int conn, int64_t value, std::vector<int> fds = {}) {
    send_with_fds(conn, std::as_bytes(std::span(&value, 1)), fds);
  }
  bool done() const { return done_; }

 private:
  std::string path_;
  UniqueFd listener_, memory_;
  std::atomic<bool> done_{false};
  std::thread thread_;
};

TEST(IvshmemFaults, garbage_from_the_server_is_counted_and_logged_a_few_times) {
  TempDir dir("nn-ivfault");
  std::string sock = dir.file("hostile.sock");
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  HostileServer server(sock, 1 << 20, [&](int conn) {
    for (int i = 0; i < 1000; ++i) {
      HostileServer::send(conn, -5);                  // below -1: invalid
      HostileServer::send(conn, 70000);               // above the largest id
      HostileServer::send(conn, 9);                   // departure of a peer never announced
      HostileServer::send(conn, -1, {efd.get()});     // a second shared memory
    }
    HostileServer::send(conn, 5, {efd.get()});        // then a sane announcement
  });
  Emulator a("path=" + sock, "vectors=1");
  ASSERT_TRUE(eventually([&] { return server.done() && a.knows_peer(5); }));
  json st = a.status();
  EXPECT_EQ(st["bad-messages"], 4000);
  std::string err = a.qts().stderr_text();
  EXPECT_LE(line_count(err), 9u) << err;  // eight complaints and the note that the rest are counted
  EXPECT_NE(err.find("further errors from this server are only counted"), std::string::npos) << err;
  EXPECT_TRUE(stays_idle(a.pid()));
  a.set_memory(0, pattern(5));
  EXPECT_EQ(a.memory(0, 4096), pattern(5));
  EXPECT_TRUE(a.qts().quit().success());
}

// Descriptors that belong to no single message break the framing: the device closes them all
// and stops listening to that server, keeping its memory and the peers it knows.
TEST(IvshmemFaults, too_many_descriptors_in_one_message_close_them_and_the_server_link) {
  TempDir dir("nn-ivfault");
  std::string sock = dir.file("hostile.sock");
  std::vector<UniqueFd> efds;
  std::vector<int> raw;
  for (int i = 0; i < 40; ++i) {
    efds.emplace_back(::eventfd(0, EFD_CLOEXEC));
    raw.push_back(efds.back().get());
  }
  std::atomic<bool> go{false};
  HostileServer server(sock, 1 << 20, [&](int conn) {
    HostileServer::send(conn, 3, {raw[0]});  // our own vector
    HostileServer::send(conn, 5, {raw[1]});  // peer 5's
    while (!go) std::this_thread::sleep_for(1ms);
    HostileServer::send(conn, 6, raw);  // one message, 40 descriptors
    HostileServer::send(conn, 7, {raw[2]});
  });
  Emulator a("path=" + sock, "vectors=1");
  ASSERT_TRUE(eventually([&] { return a.knows_peer(5); }));
  int fds = open_fd_count(a.pid());
  go = true;
  json event = a.qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  EXPECT_EQ(event["data"]["reason"], "descriptors sent by the server were dropped (too many open files, or too many "
                                     "in one message)");
  ASSERT_TRUE(eventually([&] { return server.done(); }));
  EXPECT_FALSE(a.knows_peer(6));
  EXPECT_FALSE(a.knows_peer(7));
  EXPECT_TRUE(a.knows_peer(5));
  EXPECT_EQ(a.status()["server-connected"], false);
  EXPECT_EQ(open_fd_count(a.pid()), fds);  // every descriptor of the bad message was closed
  std::string err = a.qts().stderr_text();
  EXPECT_NE(err.find("more than 16 descriptors in one message"), std::string::npos) << err;
  EXPECT_LE(line_count(err), 2u) << err;
  // Peer 5's eventfd still works: the ring reaches the test's end of it.
  a.ring(5, 0);
  uint64_t count = 0;
  EXPECT_TRUE(eventually([&] { return ::read(raw[1], &count, sizeof count) == sizeof count; }));
  EXPECT_TRUE(stays_idle(a.pid()));
  EXPECT_TRUE(a.qts().quit().success());
}

TEST(IvshmemFaults, server_vanishing_mid_message_is_a_disconnect) {
  TempDir dir("nn-ivfault");
  std::string sock = dir.file("hostile.sock");
  std::atomic<bool> go{false};
  HostileServer server(sock, 1 << 20, [&](int conn) {
    while (!go) std::this_thread::sleep_for(1ms);
    int64_t half = 5;
    ASSERT_EQ(::write(conn, &half, 4), 4);  // half a message, then the end
    ::shutdown(conn, SHUT_RDWR);
  });
  Emulator a("path=" + sock, "vectors=1");
  a.set_memory(0, pattern(6));
  int fds = open_fd_count(a.pid());
  go = true;
  a.qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  EXPECT_EQ(a.status()["server-connected"], false);
  EXPECT_FALSE(a.knows_peer(5));
  EXPECT_EQ(a.memory(0, 4096), pattern(6));
  EXPECT_EQ(open_fd_count(a.pid()), fds - 1);
  EXPECT_TRUE(stays_idle(a.pid()));
  EXPECT_TRUE(a.qts().quit().success());
}

// device_add against a hostile server: a clear error, nothing left open, the machine goes on.
struct SetupFault {
  const char* what;
  uint64_t memory_size;
  bool send_memory;
  std::string device_options;
  std::string error;
};

TEST(IvshmemFaults, bad_setup_fails_device_add_and_leaves_nothing_open) {
  const SetupFault faults[] = {
      {"memory smaller than size=", 1 << 20, true, "size=2M",
       "server sent 1048576 bytes of shared memory (1 MiB), but size=2097152 (2 MiB) was asked for"},
      {"memory not a power of two", 3 << 20, true, "",
       "shared memory sent by server size 3145728 (3 MiB) is not a power of two: a PCI BAR must be"},
      {"no memory at all", 1 << 20, false, "x-setup-timeout=300",
       "server did not complete the setup within 300 ms (version, id and shared memory)"},
  };
  QTestState q("-machine pc");
  int fds = open_fd_count(q.pid());
  for (const SetupFault& f : faults) {
    SCOPED_TRACE(f.what);
    TempDir dir("nn-ivfault");
    std::string sock = dir.file("hostile.sock");
    std::optional<HostileServer> server;
    UniqueFd silent;
    if (f.send_memory) {
      server.emplace(sock, f.memory_size, [](int) {});
    } else {
      // Version and id, then nothing: a listener the test answers by hand.
      silent = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
      ASSERT_EQ(::bind(silent.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      ASSERT_EQ(::listen(silent.get(), 1), 0);
    }
    json backend = {{"type", "socket"}, {"data", {{"addr", {{"type", "unix"}, {"data", {{"path", sock}}}}}, {"server", false}}}};
    ASSERT_EQ(q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", "h"}, {"backend", backend}}}}),
              (json{{"return", json::object()}}));
    UniqueFd accepted;
    if (!f.send_memory) {
      accepted = UniqueFd(::accept4(silent.get(), nullptr, nullptr, SOCK_CLOEXEC));
      HostileServer::send(accepted.get(), 0);
      HostileServer::send(accepted.get(), 3);
    }
    json args = {{"driver", "ivshmem-doorbell"}, {"id", "ivh"}, {"chardev", "h"}, {"addr", "6"}};
    if (!f.device_options.empty()) {
      auto eq = f.device_options.find('=');
      std::string key = f.device_options.substr(0, eq), value = f.device_options.substr(eq + 1);
      if (key == "x-setup-timeout")
        args[key] = std::stoi(value);
      else
        args[key] = value;
    }
    json r = q.qmp(json{{"execute", "device_add"}, {"arguments", args}});
    ASSERT_TRUE(r.contains("error")) << r.dump();
    EXPECT_EQ(r["error"]["desc"], f.error);
    EXPECT_EQ(PciBus(q).device_at(6).vendor_id(), 0xffff);
    EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "h"}})"), (json{{"return", json::object()}}));
    EXPECT_EQ(open_fd_count(q.pid()), fds);
  }
  EXPECT_EQ(q.qmp(R"({"execute": "query-status"})")["return"]["status"], "running");
  EXPECT_TRUE(q.quit().success()) << q.stderr_text();
}

// --- 3. The emulator out of file descriptors ---

// The RLIMIT_NOFILE that leaves exactly `spare` descriptor numbers free in `pid`.
rlim_t limit_leaving(pid_t pid, int spare) {
  std::set<int> used;
  for (const auto& e : fs::directory_iterator(fmt::format("/proc/{}/fd", pid))) used.insert(std::stoi(e.path().filename().string()));
  int free_slots = 0;
  rlim_t limit = 0;
  while (true) {
    if (!used.count(static_cast<int>(limit))) {
      if (free_slots == spare) return limit;
      ++free_slots;
    }
    ++limit;
  }
}

TEST(IvshmemFaults, device_add_without_descriptors_fails_cleanly_and_the_machine_goes_on) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivfault");
  Server server(dir, 2);
  ASSERT_TRUE(server.up()) << server.log();
  QTestState q("-machine pc");
  rlimit original{};
  ASSERT_EQ(::prlimit(q.pid(), RLIMIT_NOFILE, nullptr, &original), 0);
  int fds = open_fd_count(q.pid());
  // Room for the chardev's socket only: the shared memory descriptor cannot be received.
  rlimit tight{limit_leaving(q.pid(), 1), original.rlim_max};
  ASSERT_EQ(::prlimit(q.pid(), RLIMIT_NOFILE, &tight, nullptr), 0);
  json backend = {{"type", "socket"},
                  {"data", {{"addr", {{"type", "unix"}, {"data", {{"path", server.socket()}}}}}, {"server", false}}}};
  ASSERT_EQ(q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", "c"}, {"backend", backend}}}}),
            (json{{"return", json::object()}}));
  json r = q.qmp(json{{"execute", "device_add"},
                      {"arguments", {{"driver", "ivshmem-doorbell"}, {"id", "iv"}, {"chardev", "c"}, {"addr", "6"}}}});
  ASSERT_TRUE(r.contains("error")) << r.dump();
  EXPECT_EQ(r["error"]["desc"], "read from server failed: Chardev 'c': descriptors sent by the peer were dropped: "
                                "Too many open files (RLIMIT_NOFILE)");
  EXPECT_EQ(PciBus(q).device_at(6).vendor_id(), 0xffff);
  EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "c"}})"), (json{{"return", json::object()}}));
  EXPECT_EQ(open_fd_count(q.pid()), fds);
  EXPECT_TRUE(stays_idle(q.pid()));

  // With descriptors again, the same hot-plug works: nothing was left half done.
  ASSERT_EQ(::prlimit(q.pid(), RLIMIT_NOFILE, &original, nullptr), 0);
  ASSERT_EQ(q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", "c"}, {"backend", backend}}}}),
            (json{{"return", json::object()}}));
  EXPECT_EQ(q.qmp(json{{"execute", "device_add"},
                       {"arguments", {{"driver", "ivshmem-doorbell"}, {"id", "iv"}, {"chardev", "c"}, {"addr", "6"}}}}),
            (json{{"return", json::object()}}));
  EXPECT_EQ(PciBus(q).device_at(6).device_id(), 0x1111);
  EXPECT_EQ(q.qmp(R"({"execute": "query-status"})")["return"]["status"], "running");
  EXPECT_TRUE(q.quit().success()) << q.stderr_text();
}

// After setup, a descriptor the emulator cannot receive would turn a newcomer's eventfd into
// a message announcing its departure. The device stops listening to the server instead, and
// says so; its memory and the peers it knows keep working.
TEST(IvshmemFaults, descriptors_lost_after_setup_end_the_server_link_not_the_machine) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivfault");
  Server server(dir, 1);
  ASSERT_TRUE(server.up()) << server.log();
  Emulator a("path=" + server.socket(), "vectors=1");
  a.set_memory(0, pattern(7));
  int fds = open_fd_count(a.pid());
  rlimit original{};
  ASSERT_EQ(::prlimit(a.pid(), RLIMIT_NOFILE, nullptr, &original), 0);
  rlimit none_left{limit_leaving(a.pid(), 0), original.rlim_max};
  ASSERT_EQ(::prlimit(a.pid(), RLIMIT_NOFILE, &none_left, nullptr), 0);

  Emulator b("path=" + server.socket(), "vectors=1");
  json event = a.qts().qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  EXPECT_EQ(event["data"]["reason"], "descriptors sent by the server were dropped (too many open files, or too many "
                                     "in one message)");
  EXPECT_EQ(a.status()["server-connected"], false);
  EXPECT_EQ(a.status()["bad-messages"], 0);  // nothing was misread
  EXPECT_FALSE(a.knows_peer(1));
  EXPECT_EQ(open_fd_count(a.pid()), fds);
  EXPECT_EQ(b.memory(0, 4096), pattern(7));
  // b got a's eventfd from the server: it can still ring a.
  ASSERT_TRUE(eventually([&] { return b.knows_peer(0); }));
  b.ring(0, 0);
  EXPECT_TRUE(eventually([&] { return a.reg(kRungVectors) == 1u; }));
  std::string err = a.qts().stderr_text();
  EXPECT_LE(line_count(err), 2u) << err;
  EXPECT_TRUE(stays_idle(a.pid()));
  ASSERT_EQ(::prlimit(a.pid(), RLIMIT_NOFILE, &original, nullptr), 0);
  EXPECT_TRUE(b.qts().quit().success());
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
}

// --- 4. A memory backend on a full tmpfs ---

// Runs `script` as root in a private mount namespace where DIR is a 1 MiB tmpfs; the output
// of `ls -A DIR` after the emulator follows a "left:" line.
RunResult in_small_tmpfs(const TempDir& dir, const std::string& emulator_args) {
  std::string script = fmt::format(
      "mount -t tmpfs -o size=1M nn-ivfault {0} && {1} {2}; echo rc=$?; echo left:; ls -A {0}", dir.path(),
      emulator_binary(), emulator_args);
  return run_command(fmt::format("unshare --mount --propagation private sh -c '{}'", script), 60s);
}

// Root alone is not enough in a container without CAP_SYS_ADMIN: try it.
bool can_unshare() {
  if (::geteuid() != 0 || ::access("/usr/bin/unshare", X_OK) != 0) return false;
  return run_command("unshare --mount --propagation private sh -c 'mount -t tmpfs nn-probe /mnt'", 30s).status.success();
}

TEST(IvshmemFaults, memory_backend_on_a_full_tmpfs_is_an_error_not_a_sigbus) {
  if (!can_unshare()) GTEST_SKIP() << "needs root, unshare(1) and mount rights for a private tmpfs mount";
  TempDir dir("nn-ivfault");
  const std::string base = "-nodefaults -display none -machine pc -accel qtest -S";
  struct Case {
    std::string object;
    std::string error;
  } cases[] = {
      {fmt::format("memory-backend-file,id=m,size=4M,share=on,mem-path={}/shm", dir.path()),
       fmt::format("backing store {}/shm cannot hold 'size' 0x400000: its file system has only 0x100000 bytes free",
                   dir.path())},
      {fmt::format("memory-backend-file,id=m,size=4M,share=on,prealloc=on,mem-path={}", dir.path()),
       "can't preallocate 4194304 bytes of backing store for 'm': No space left on device"},
      {fmt::format("memory-backend-file,id=m,size=4M,share=on,prealloc=on,mem-path={}/shm", dir.path()),
       "can't preallocate 4194304 bytes of backing store for 'm': No space left on device"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.object);
    RunResult r = in_small_tmpfs(dir, fmt::format("{} -object {} -device ivshmem-plain,memdev=m", base, c.object));
    EXPECT_EQ(r.err, fmt::format("nahanni-system-x86_64: -object {}: {}\n", c.object, c.error));
    EXPECT_NE(r.out.find("rc=1\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("left:\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(r.out.find("left:\n") + 6), "") << "files left in the tmpfs";
  }
}

}  // namespace
}  // namespace nahanni::qtest
