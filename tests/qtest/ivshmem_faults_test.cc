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
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ivshmem_idle.h"
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
  Emulator c("path=" + server.socket());
  ASSERT_EQ(a.reg(kIvPosition), 0u);
  ASSERT_EQ(b.reg(kIvPosition), 1u);
  ASSERT_EQ(c.reg(kIvPosition), 2u);
  ASSERT_TRUE(eventually([&] { return a.knows_peer(1) && a.knows_peer(2) && b.knows_peer(0); }))
      << a.status().dump() << b.status().dump();
  a.set_memory(0, pattern(1));
  ASSERT_EQ(b.memory(0, 4096), pattern(1));
  // c dies while the server runs: the server announces its departure and a forgets it.
  ASSERT_EQ(::kill(c.pid(), SIGKILL), 0);
  EXPECT_EQ(c.qts().quit().signal, SIGKILL);
  ASSERT_TRUE(eventually([&] { return !a.knows_peer(2); })) << a.status().dump();
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

  // b dies too; without a server nobody tells a. Rings to b go into the eventfds a still holds,
  // which nobody reads any more: counted as sent, harmless. Rings to c, whose departure a
  // learnt, and to ids a never knew are dropped and counted. None of them logs anything.
  ASSERT_EQ(::kill(b.pid(), SIGKILL), 0);
  EXPECT_EQ(b.qts().quit().signal, SIGKILL);
  std::string quiet = a.qts().stderr_text();
  json st0 = a.status();
  for (int i = 0; i < 200; ++i) {
    a.ring(1, 0);
    a.ring(2, 0);
    a.ring(7, 0);
  }
  json st1 = a.status();
  EXPECT_EQ(st1["doorbells-sent"][0].get<uint64_t>() - st0["doorbells-sent"][0].get<uint64_t>(), 200u);
  EXPECT_EQ(st1["doorbells-dropped"].get<uint64_t>() - st0["doorbells-dropped"].get<uint64_t>(), 400u);
  EXPECT_EQ(st1["peers"], (json::array({{{"id", 1}, {"vectors", 2}}})));
  EXPECT_EQ(a.qts().stderr_text(), quiet);
  EXPECT_EQ(line_count(quiet), 1u) << quiet;  // the one warning about the lost server
  EXPECT_NE(quiet.find("lost the connection to the ivshmem server"), std::string::npos) << quiet;
  EXPECT_TRUE(stays_idle(a.pid()));
  EXPECT_EQ(open_fd_count(a.pid()), a_fds - 1);
  EXPECT_EQ(a.memory(0, 4096), pattern(1));
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
  ASSERT_TRUE(eventually([&] { return a.reg(kState) == (kStateSetupComplete | kStateServerConnected); }));
  int fds = open_fd_count(a.pid());
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
  // The old server's socket and eventfds were replaced one for one, c's closed as it left.
  ASSERT_TRUE(eventually([&] { return !a.knows_peer(1); }));
  EXPECT_EQ(open_fd_count(a.pid()), fds);
  EXPECT_TRUE(stays_idle(a.pid()));
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

// Sets the flags a script waits on when the test ends, so the script (and the server's
// destructor, which joins it) finishes even when an assertion ended the test early.
class ReleaseOnExit {
 public:
  explicit ReleaseOnExit(std::initializer_list<std::atomic<bool>*> flags) : flags_(flags) {}
  ~ReleaseOnExit() {
    for (std::atomic<bool>* f : flags_) *f = true;
  }

 private:
  std::vector<std::atomic<bool>*> flags_;
};

TEST(IvshmemFaults, garbage_from_the_server_is_counted_and_logged_a_few_times) {
  TempDir dir("nn-ivfault");
  std::string sock = dir.file("hostile.sock");
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  std::atomic<bool> go{false};
  HostileServer server(sock, 1 << 20, [&](int conn) {
    while (!go) std::this_thread::sleep_for(1ms);
    for (int i = 0; i < 1000; ++i) {
      HostileServer::send(conn, -5);                  // below -1: invalid
      HostileServer::send(conn, 70000);               // above the largest id
      HostileServer::send(conn, 9);                   // departure of a peer never announced
      HostileServer::send(conn, -1, {efd.get()});     // a second shared memory
    }
    HostileServer::send(conn, 5, {efd.get()});        // then a sane announcement
  });
  ReleaseOnExit release{&go};
  Emulator a("path=" + sock, "vectors=1");
  int fds = open_fd_count(a.pid());
  go = true;
  ASSERT_TRUE(eventually([&] { return server.done() && a.knows_peer(5); }));
  json st = a.status();
  EXPECT_EQ(st["bad-messages"], 4000);
  // The 1000 extra shared memory descriptors were closed; only peer 5's eventfd stays.
  EXPECT_EQ(open_fd_count(a.pid()), fds + 1);
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

// device_add against a hostile server: a clear error, nothing left open, no spinning, and the
// machine goes on.
enum class Setup { kMemory, kSilentAfterId, kClosesAfterId };

struct SetupFault {
  const char* what;
  uint64_t memory_size;
  Setup setup;
  std::string device_options;
  std::string error;
};

TEST(IvshmemFaults, bad_setup_fails_device_add_and_leaves_nothing_open) {
  const SetupFault faults[] = {
      {"memory smaller than size=", 1 << 20, Setup::kMemory, "size=2M",
       "server sent 1048576 bytes of shared memory (1 MiB), but size=2097152 (2 MiB) was asked for"},
      {"memory not a power of two", 3 << 20, Setup::kMemory, "",
       "shared memory sent by server size 3145728 (3 MiB) is not a power of two: a PCI BAR must be"},
      {"no memory at all", 1 << 20, Setup::kSilentAfterId, "x-setup-timeout=300",
       "server did not complete the setup within 300 ms (version, id and shared memory)"},
      {"closes after version and id", 1 << 20, Setup::kClosesAfterId, "", "server closed the connection during setup"},
  };
  QTestState q("-machine pc");
  int fds = open_fd_count(q.pid());
  for (const SetupFault& f : faults) {
    SCOPED_TRACE(f.what);
    TempDir dir("nn-ivfault");
    std::string sock = dir.file("hostile.sock");
    std::optional<HostileServer> server;
    UniqueFd listener;
    if (f.setup == Setup::kMemory) {
      server.emplace(sock, f.memory_size, [](int) {});
    } else {
      // Version and id, then nothing or the end: a listener the test answers by hand.
      listener = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, sock.c_str(), sizeof addr.sun_path - 1);
      ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
      ASSERT_EQ(::listen(listener.get(), 1), 0);
    }
    json backend = {{"type", "socket"}, {"data", {{"addr", {{"type", "unix"}, {"data", {{"path", sock}}}}}, {"server", false}}}};
    ASSERT_EQ(q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", "h"}, {"backend", backend}}}}),
              (json{{"return", json::object()}}));
    UniqueFd accepted;
    if (f.setup != Setup::kMemory) {
      accepted = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
      HostileServer::send(accepted.get(), 0);
      HostileServer::send(accepted.get(), 3);
      if (f.setup == Setup::kClosesAfterId) accepted.reset();
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
    // A closed or silent connection left behind must not keep the main loop busy.
    EXPECT_TRUE(stays_idle(q.pid()));
    EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "h"}})"), (json{{"return", json::object()}}));
    EXPECT_EQ(open_fd_count(q.pid()), fds);
  }
  EXPECT_EQ(q.qmp(R"({"execute": "query-status"})")["return"]["status"], "running");
  EXPECT_TRUE(q.quit().success()) << q.stderr_text();
}

// The server sends the memory, then one of peer 5's two eventfds, then goes. The device was
// realized with the memory; it keeps it and the half-announced peer, says the server is gone,
// and its setup stays incomplete (our own vectors never came). Removing it closes everything.
TEST(IvshmemFaults, server_closing_midway_through_the_peers_leaves_a_working_device) {
  TempDir dir("nn-ivfault");
  std::string sock = dir.file("hostile.sock");
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  std::atomic<bool> go{false};
  HostileServer server(sock, 1 << 20, [&](int conn) {
    while (!go) std::this_thread::sleep_for(1ms);
    HostileServer::send(conn, 5, {efd.get()});
    ::shutdown(conn, SHUT_RDWR);
  });
  ReleaseOnExit release{&go};
  QTestState q("-machine pc");
  int fds = open_fd_count(q.pid());
  json backend = {{"type", "socket"}, {"data", {{"addr", {{"type", "unix"}, {"data", {{"path", sock}}}}}, {"server", false}}}};
  ASSERT_EQ(q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", "h"}, {"backend", backend}}}}),
            (json{{"return", json::object()}}));
  ASSERT_EQ(q.qmp(json{{"execute", "device_add"},
                       {"arguments", {{"driver", "ivshmem-doorbell"}, {"id", "ivh"}, {"chardev", "h"}, {"addr", "6"},
                                      {"vectors", 2}}}}),
            (json{{"return", json::object()}}));
  go = true;
  json event = q.qmp_eventwait("IVSHMEM_SERVER_DISCONNECTED");
  EXPECT_EQ(event["data"], (json{{"device", "ivh"}, {"path", "/machine/peripheral/ivh"}, {"reason", "connection closed"}}));
  json st = q.qmp(R"({"execute": "qom-get", "arguments": {"path": "/machine/peripheral/ivh", "property": "status"}})")["return"];
  EXPECT_EQ(st["server-connected"], false);
  EXPECT_EQ(st["setup-complete"], false);
  EXPECT_EQ(st["peers"], (json::array({{{"id", 5}, {"vectors", 1}}})));
  PciBus bus(q);
  PciDevice dev = bus.device_at(6);
  PciBar bar0 = dev.iomap(0), bar2 = dev.iomap(2);
  dev.enable();
  EXPECT_EQ(dev.bar_readl(bar0, kState), 0u);  // neither set up nor connected
  EXPECT_EQ(dev.bar_readl(bar0, kIvPosition), 3u);
  dev.bar_writel(bar2, 0x100, 0xfeedf00d);
  EXPECT_EQ(dev.bar_readl(bar2, 0x100), 0xfeedf00du);
  // The one eventfd peer 5 got works; its missing vector is dropped and counted.
  dev.bar_writel(bar0, kDoorbell, 5u << 16 | 0);
  dev.bar_writel(bar0, kDoorbell, 5u << 16 | 1);
  uint64_t count = 0;
  EXPECT_EQ(::read(efd.get(), &count, sizeof count), static_cast<ssize_t>(sizeof count));
  EXPECT_EQ(count, 1u);
  st = q.qmp(R"({"execute": "qom-get", "arguments": {"path": "/machine/peripheral/ivh", "property": "status"}})")["return"];
  EXPECT_EQ(st["doorbells-sent"], (json::array({1, 0})));
  EXPECT_EQ(st["doorbells-dropped"], 1);
  EXPECT_TRUE(stays_idle(q.pid()));
  acpi_unplug(q, "ivh", 6);
  EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "h"}})"), (json{{"return", json::object()}}));
  EXPECT_EQ(open_fd_count(q.pid()), fds);
  EXPECT_TRUE(q.quit().success()) << q.stderr_text();
}

// A server announcing thousands of peers (a hostile one, or a real one a hostile client floods)
// cannot make the device hold more than x-max-peers of them: the eventfds of the others are
// closed as they arrive, the peers counted, one warning logged. Taking in the announcements
// costs the main loop little per eventfd (no rescans), so QMP keeps answering and the emulator
// goes idle once the flood is over; its descriptors return to where they were on unplug.
TEST(IvshmemFaults, a_server_announcing_thousands_of_peers_is_held_to_x_max_peers) {
  constexpr int kPeers = 3000, kVectors = 2, kCap = 100, kFirstId = 10, kOwnId = 3;
  TempDir dir("nn-ivfault");
  std::string sock = dir.file("hostile.sock");
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  std::atomic<bool> flood{false}, churn{false};
  HostileServer server(sock, 1 << 20, [&](int conn) {
    while (!flood) std::this_thread::sleep_for(1ms);
    for (int p = 0; p < kPeers; ++p)
      for (int v = 0; v < kVectors; ++v) HostileServer::send(conn, kFirstId + p, {efd.get()});
    for (int v = 0; v < kVectors; ++v) HostileServer::send(conn, kOwnId, {efd.get()});
    while (!churn) std::this_thread::sleep_for(1ms);
    HostileServer::send(conn, kFirstId);         // an accepted peer leaves: its place is free
    HostileServer::send(conn, kFirstId + kCap);  // a refused one leaves: nothing to forget
    HostileServer::send(conn, 9000, {efd.get()});  // a newcomer takes the free place
    HostileServer::send(conn, 9000, {efd.get()});
    HostileServer::send(conn, kFirstId + kCap + 1, {efd.get()});  // refused before: stays refused
    HostileServer::send(conn, 9001, {efd.get()});  // the limit is reached again
  });
  ReleaseOnExit release{&flood, &churn};
  QTestState q("-machine pc");
  int fds = open_fd_count(q.pid());
  json backend = {{"type", "socket"}, {"data", {{"addr", {{"type", "unix"}, {"data", {{"path", sock}}}}}, {"server", false}}}};
  ASSERT_EQ(q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", "h"}, {"backend", backend}}}}),
            (json{{"return", json::object()}}));
  ASSERT_EQ(q.qmp(json{{"execute", "device_add"},
                       {"arguments", {{"driver", "ivshmem-doorbell"}, {"id", "ivh"}, {"chardev", "h"}, {"addr", "6"},
                                      {"vectors", kVectors}, {"x-max-peers", kCap}}}}),
            (json{{"return", json::object()}}));
  auto status = [&] {
    return q.qmp(R"({"execute": "qom-get", "arguments": {"path": "/machine/peripheral/ivh", "property": "status"}})")
        ["return"];
  };
  auto start = std::chrono::steady_clock::now();
  flood = true;
  // Our own vectors come last: once they are in, every announcement was taken in. QMP answers
  // all along (each status query is a round trip through the main loop).
  ASSERT_TRUE(eventually([&] { return status()["setup-complete"] == true; }, 120s)) << status().dump();
  auto took = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  RecordProperty("announcements_taken_in_ms", static_cast<int>(took * 1000));
  std::printf("%d announcements (%d peers x %d vectors) taken in in %.3f s\n", kPeers * kVectors, kPeers, kVectors,
              took);

  json st = status();
  ASSERT_EQ(st["peers"].size(), static_cast<size_t>(kCap));
  EXPECT_EQ(st["peers"][0], (json{{"id", kFirstId}, {"vectors", kVectors}}));
  EXPECT_EQ(st["peers"][kCap - 1], (json{{"id", kFirstId + kCap - 1}, {"vectors", kVectors}}));
  EXPECT_EQ(st["max-peers"], kCap);
  EXPECT_EQ(st["refused-peers"], kPeers - kCap);
  EXPECT_EQ(st["dropped-eventfds"], 0);
  EXPECT_EQ(st["bad-messages"], 0);
  EXPECT_EQ(st["fast-paths"][0]["ioeventfd-declined"], 0);  // BAR0 not mapped yet: nothing to decline
  PciBus bus(q);
  PciDevice dev = bus.device_at(6);
  PciBar bar0 = dev.iomap(0);
  dev.enable();
  EXPECT_EQ(dev.bar_readl(bar0, kPeerCount), static_cast<uint32_t>(kCap));
  st = status();
  // Under qtest no accelerator takes ioeventfds: every doorbell, ours included, is rung by the device.
  EXPECT_EQ(st["fast-paths"][0], (json{{"vector", 0}, {"ioeventfd-peers", 0}, {"ioeventfd-declined", kCap + 1},
                                       {"irqfd", false}}));
  // The socket, the memory, the accepted peers' eventfds, ours and the duplicates of ours that
  // let the device ring itself: nothing of the refused peers.
  EXPECT_EQ(open_fd_count(q.pid()), fds + 2 + kCap * kVectors + 2 * kVectors);
  EXPECT_EQ(q.stderr_text(), fmt::format("nahanni-system-x86_64: warning: ivshmem: refusing peer {}: the device already "
                                         "has x-max-peers={} peers; further peers beyond the limit are only counted "
                                         "(refused-peers)\n",
                                         kFirstId + kCap, kCap));
  EXPECT_TRUE(stays_idle(q.pid()));

  churn = true;
  ASSERT_TRUE(eventually([&] { return status()["refused-peers"] == kPeers - kCap + 1; })) << status().dump();
  st = status();
  EXPECT_EQ(st["peers"].size(), static_cast<size_t>(kCap));
  EXPECT_EQ(st["peers"][0], (json{{"id", kFirstId + 1}, {"vectors", kVectors}}));
  EXPECT_EQ(st["peers"][kCap - 1], (json{{"id", 9000}, {"vectors", kVectors}}));
  EXPECT_EQ(st["bad-messages"], 0);  // a refused peer's departure is no error
  EXPECT_EQ(open_fd_count(q.pid()), fds + 2 + kCap * kVectors + 2 * kVectors);
  EXPECT_EQ(line_count(q.stderr_text()), 1u) << q.stderr_text();
  EXPECT_EQ(q.qmp(R"({"execute": "query-status"})")["return"]["status"], "running");

  acpi_unplug(q, "ivh", 6);
  EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "h"}})"), (json{{"return", json::object()}}));
  EXPECT_EQ(open_fd_count(q.pid()), fds);
  EXPECT_TRUE(stays_idle(q.pid()));
  EXPECT_TRUE(q.quit().success()) << q.stderr_text();
}

TEST(IvshmemFaults, x_max_peers_defaults_to_1024_and_is_checked) {
  QTestState q("-machine pc -chardev null,id=n");
  json r = q.qmp(R"({"execute": "device-list-properties", "arguments": {"typename": "ivshmem-doorbell"}})");
  ASSERT_TRUE(r.contains("return")) << r.dump();
  json found;
  for (const json& p : r["return"])
    if (p["name"] == "x-max-peers") found = p;
  EXPECT_EQ(found["default-value"], 1024) << r.dump();
  json bad = q.qmp(R"({"execute": "device_add", "arguments": {"driver": "ivshmem-doorbell", "chardev": "n",
                                                              "x-max-peers": 65536}})");
  EXPECT_EQ(bad["error"]["desc"], "x-max-peers=65536 is invalid: a device accepts 1 to 65535 other peers");
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

// Runs the emulator as root in a private mount namespace where `mount_point` is a 1 MiB tmpfs;
// the output of `ls -A` of it after the emulator follows a "left:" line.
RunResult in_small_tmpfs(const std::string& mount_point, const std::string& emulator_args) {
  std::string script = fmt::format(
      "mount -t tmpfs -o size=1M nn-ivfault {0} && {1} {2}; echo rc=$?; echo left:; ls -A {0}", mount_point,
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
    RunResult r = in_small_tmpfs(dir.path(), fmt::format("{} -object {} -device ivshmem-plain,memdev=m", base, c.object));
    EXPECT_EQ(r.err, fmt::format("nahanni-system-x86_64: -object {}: {}\n", c.object, c.error));
    EXPECT_NE(r.out.find("rc=1\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("left:\n"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.substr(r.out.find("left:\n") + 6), "") << "files left in the tmpfs";
  }
}

// The legacy shim's shm=NAME creates a POSIX object in /dev/shm as QEMU's old device did, and
// reserves its pages: a /dev/shm without room is an error at start, not a SIGBUS in the guest's
// first access, and the object it created is gone again.
TEST(IvshmemFaults, legacy_shm_on_a_full_dev_shm_is_an_error_and_leaves_no_object) {
  if (!can_unshare()) GTEST_SKIP() << "needs root, unshare(1) and mount rights for a private tmpfs mount";
  const std::string device = "ivshmem,shm=nn-ivfault-full,size=4M";
  RunResult r = in_small_tmpfs("/dev/shm", "-nodefaults -display none -machine pc -accel qtest -S -device " + device);
  EXPECT_EQ(r.err, fmt::format("nahanni-system-x86_64: -device {0}: warning: ivshmem is deprecated, please use "
                               "ivshmem-plain or ivshmem-doorbell instead: -object memory-backend-file,id=ID,size=4M,"
                               "share=on,mem-path=/dev/shm/nn-ivfault-full -device ivshmem-plain,memdev=ID\n"
                               "nahanni-system-x86_64: -device {0}: could not allocate 4 MiB for shared memory object "
                               "nn-ivfault-full: No space left on device\n",
                               device));
  EXPECT_NE(r.out.find("rc=1\n"), std::string::npos) << r.out;
  ASSERT_NE(r.out.find("left:\n"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.substr(r.out.find("left:\n") + 6), "") << "objects left in /dev/shm";
  EXPECT_FALSE(dev_shm_entries().count("nn-ivfault-full"));  // and nothing in the real one
}

// memfd memory lives on no file system with a size: it is short when the host, or the memory
// cgroup the emulator runs in, is. A cgroup v1 memory group whose OOM killer is disabled makes
// a reservation beyond its limit fail instead of killing the emulator: that is the shortage
// prealloc=on must turn into an error (tested where such a group can be made).
std::string memory_cgroup_root() {
  const std::string root = "/sys/fs/cgroup/memory";
  if (::geteuid() != 0 || ::access((root + "/memory.oom_control").c_str(), W_OK) != 0) return "";
  return root;
}

TEST(IvshmemFaults, memfd_prealloc_beyond_the_memory_limit_is_an_error) {
  std::string root = memory_cgroup_root();
  if (root.empty()) GTEST_SKIP() << "needs root and a writable cgroup v1 memory hierarchy";
  std::string group = fmt::format("{}/{}", root, unique_name("nn-ivfault"));
  if (::mkdir(group.c_str(), 0755) != 0) GTEST_SKIP() << "cannot create memory cgroup " << group;
  struct RemoveGroup {
    std::string path;
    ~RemoveGroup() { ::rmdir(path.c_str()); }
  } remove_group{group};
  auto write_file = [](const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    out.close();
    return !out.fail();
  };
  ASSERT_TRUE(write_file(group + "/memory.limit_in_bytes", "64M"));
  ASSERT_TRUE(write_file(group + "/memory.oom_control", "1"));
  const std::string object = "memory-backend-memfd,id=m,size=256M,prealloc=on";
  RunResult r = run_command(fmt::format("sh -c 'echo $$ > {}/cgroup.procs && exec {} -nodefaults -display none "
                                        "-machine pc -accel qtest -S -object {} -device ivshmem-plain,memdev=m'",
                                        group, emulator_binary(), object),
                            60s);
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, (ExitStatus{.exited = true, .code = 1}));
  EXPECT_EQ(r.err, fmt::format("nahanni-system-x86_64: -object {}: can't preallocate 268435456 bytes of backing store "
                               "for 'm': Cannot allocate memory\n",
                               object));
}

}  // namespace
}  // namespace nahanni::qtest
