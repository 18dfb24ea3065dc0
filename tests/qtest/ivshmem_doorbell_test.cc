// ivshmem-doorbell end to end (issue #4): emulators as peers of our ivshmem-server, driven over
// qtest like a guest driver would: PCI identity and BARs, the revision-2 state registers, rings
// on every vector observed through the MSI-X pending bits and delivered by unmasking, INTx mode,
// peers joining and leaving while rings are in flight, our ivshmem-client as a peer, and a
// server that dies under running peers. Each test starts its own server in a temporary dir.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "libqtest.h"
#include "pci.h"

namespace nahanni::qtest {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

// The guest interface as docs/specs/ivshmem-spec.rst states it (not taken from the device's
// headers, so a wrong constant there shows up here).
constexpr uint16_t kVendor = 0x1af4, kDoorbellDevice = 0x1111, kPlainDevice = 0x1110;
constexpr uint32_t kIntrMask = 0x00, kIntrStatus = 0x04, kIvPosition = 0x08, kDoorbell = 0x0c, kFeatures = 0x10,
                   kState = 0x14, kPeerSelect = 0x18, kPeerVectors = 0x1c, kRungVectors = 0x20, kOwnVectors = 0x24,
                   kPeerCount = 0x28;
constexpr uint32_t kFeatureDoorbell = 1u << 0, kFeatureIntx = 1u << 1, kFeaturePolling = 1u << 3;
constexpr uint32_t kStateSetupComplete = 1u << 0, kStateServerConnected = 1u << 1;
constexpr uint64_t kMemorySize = 1u << 20;  // the server's -l 1M
constexpr uint16_t kCommandIntxDisable = 0x400, kStatusInterrupt = 0x08;
constexpr uint64_t kMsiRam = 0x200000;  // guest RAM that MSI-X entries point at, to see deliveries

// Generous bound for conditions that only fail when something is broken; never a measurement.
constexpr auto kPatience = 20s;

bool eventually(const std::function<bool()>& pred) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The environment may name the tools; otherwise the server meson names (IVSHMEM_SERVER_PATH) and
// the client built beside it, or both beside the emulator.
std::string server_binary() {
  if (const char* p = std::getenv("IVSHMEM_SERVER"); p && *p) return p;
#ifdef IVSHMEM_SERVER_PATH
  return IVSHMEM_SERVER_PATH;
#else
  return (fs::path(emulator_binary()).parent_path() / "contrib/ivshmem-server/ivshmem-server").string();
#endif
}
std::string client_binary() {
  if (const char* p = std::getenv("IVSHMEM_CLIENT"); p && *p) return p;
  return (fs::path(server_binary()).parent_path().parent_path() / "ivshmem-client/ivshmem-client").string();
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "nn-ivdoor.XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (fs::path(path_) / name).string(); }

 private:
  std::string path_;
};

// Our ivshmem-server in the foreground, verbose, with its stderr in a file.
class Server {
 public:
  Server(const TempDir& dir, unsigned vectors) : socket_(dir.file("ivshmem.sock")), log_(dir.file("server.log")) {
    int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot create " + log_);
    process_ = ChildProcess::spawn(fmt::format("{} -F -v -S {} -l 1M -n {}", server_binary(), socket_, vectors), -1, fd);
    ::close(fd);
  }
  ~Server() {
    if (process_.running()) process_.terminate(5s);
  }
  // Waits until the server listens.
  bool up() {
    return eventually([&] { return log().find("listening on") != std::string::npos || !process_.running(); }) &&
           process_.running();
  }
  const std::string& socket() const { return socket_; }
  std::string log() const { return read_text(log_); }
  ChildProcess& process() { return process_; }
  // The id the server gave the client with this pid ("peer N connected (pid P, ...").
  std::optional<unsigned> id_of(pid_t pid) const {
    std::string text = log();
    std::string tail = fmt::format(" connected (pid {},", pid);
    size_t at = text.find(tail);
    if (at == std::string::npos) return std::nullopt;
    size_t start = text.rfind("peer ", at);
    if (start == std::string::npos) return std::nullopt;
    return static_cast<unsigned>(std::stoul(text.substr(start + 5, at - start - 5)));
  }

 private:
  std::string socket_, log_;
  ChildProcess process_;
};

// One emulator with one ivshmem-doorbell (id iv0, slot `slot`), mapped and enabled as a driver
// would: BAR0, MSI-X (BAR1) enabled with every entry still masked, BAR2.
class Peer {
 public:
  Peer(const Server& server, const std::string& device_options, int slot = 4) {
    qts_ = std::make_unique<QTestState>(
        fmt::format("-machine pc -chardev socket,id=c0,path={} -device ivshmem-doorbell,id=iv0,chardev=c0,addr={},{}",
                    server.socket(), slot, device_options));
    bus_ = std::make_unique<PciBus>(*qts_);
    dev_.emplace(bus_->device_at(slot));
    // A qtest round trip: the device is realized, so it has its id before the next peer starts.
    if (dev_->vendor_id() != kVendor) throw QTestError(fmt::format("no ivshmem device in slot {}", slot));
  }
  Peer(const Peer&) = delete;
  Peer& operator=(const Peer&) = delete;

  // Maps the BARs; with MSI-X (the default) also enables it.
  void map(bool msix = true) {
    bar0_ = dev_->iomap(0);
    if (msix) dev_->msix_enable();
    bar2_ = dev_->iomap(2);
    dev_->enable();
  }

  QTestState& qts() { return *qts_; }
  PciDevice& dev() { return *dev_; }
  uint32_t reg(uint32_t offset) { return dev_->bar_readl(bar0_, offset); }
  void set_reg(uint32_t offset, uint32_t value) { dev_->bar_writel(bar0_, offset, value); }
  const PciBar& bar0() const { return bar0_; }
  const PciBar& bar2() const { return bar2_; }
  unsigned id() { return reg(kIvPosition); }
  void ring(unsigned peer, unsigned vector) { set_reg(kDoorbell, peer << 16 | vector); }
  uint32_t peer_vectors(unsigned peer) {
    set_reg(kPeerSelect, peer);
    return reg(kPeerVectors);
  }
  bool ready() { return reg(kState) == (kStateSetupComplete | kStateServerConnected); }
  nlohmann::json status() {
    nlohmann::json r = qts_->qmp(nlohmann::json{
        {"execute", "qom-get"}, {"arguments", {{"path", "/machine/peripheral/iv0"}, {"property", "status"}}}});
    if (!r.contains("return")) throw QTestError("qom-get status failed: " + r.dump());
    return r["return"];
  }
  // MSI-X vectors pending now, as a bit mask.
  uint32_t pending_mask(unsigned vectors) {
    uint32_t m = 0;
    for (unsigned v = 0; v < vectors; ++v)
      if (dev_->msix_pending(static_cast<int>(v))) m |= 1u << v;
    return m;
  }

 private:
  std::unique_ptr<QTestState> qts_;
  std::unique_ptr<PciBus> bus_;
  std::optional<PciDevice> dev_;
  PciBar bar0_, bar2_;
};

// `from` rings `to` on `vector` with the entry masked: exactly that pending bit appears and
// RungVectors shows the vector once; unmasking with an entry pointing into guest RAM delivers
// the message as a memory write and clears the bit; the entry is masked again afterwards.
void expect_ring_arrives(Peer& from, Peer& to, unsigned vector, unsigned vectors) {
  SCOPED_TRACE(fmt::format("peer {} rings peer {} on vector {}", from.id(), to.id(), vector));
  ASSERT_EQ(to.pending_mask(vectors), 0u);
  from.ring(to.id(), vector);
  ASSERT_TRUE(eventually([&] { return to.dev().msix_pending(static_cast<int>(vector)); }));
  EXPECT_EQ(to.pending_mask(vectors), 1u << vector);
  EXPECT_EQ(to.reg(kRungVectors), 1u << vector);
  EXPECT_EQ(to.reg(kRungVectors), 0u);  // reading cleared it

  uint64_t target = kMsiRam + 4 * vector;
  uint32_t data = 0x5eed0000u | vector;
  to.qts().writel(target, 0);
  to.dev().msix_set_entry(static_cast<int>(vector), target, data, false);
  EXPECT_EQ(to.qts().readl(target), data);
  EXPECT_EQ(to.pending_mask(vectors), 0u);
  to.dev().msix_set_entry(static_cast<int>(vector), 0, 0, true);
}

// A peer's doorbell counters from QMP: {"sent": [...], "received": [...]}.
std::vector<uint64_t> sent(Peer& p) { return p.status()["doorbells-sent"].get<std::vector<uint64_t>>(); }
std::vector<uint64_t> received(Peer& p) { return p.status()["doorbells-received"].get<std::vector<uint64_t>>(); }

TEST(IvshmemDoorbell, identity_capabilities_and_bars) {
  TempDir dir;
  Server server(dir, 4);
  ASSERT_TRUE(server.up()) << server.log();
  QTestState q(fmt::format(
      "-machine pc -chardev socket,id=c0,path={0} -device ivshmem-doorbell,id=iv0,chardev=c0,vectors=4,addr=4 "
      "-chardev socket,id=c1,path={0} -device ivshmem-doorbell,id=iv1,chardev=c1,legacy-id=on,addr=5",
      server.socket()));
  PciBus bus(q);

  struct Expected {
    int slot;
    uint16_t device;
    uint16_t vectors;
  };
  std::vector<uint64_t> bar2s;
  for (const Expected& e : {Expected{4, kDoorbellDevice, 4}, Expected{5, kPlainDevice, 1}}) {
    SCOPED_TRACE(fmt::format("slot {}", e.slot));
    PciDevice d = bus.device_at(e.slot);
    EXPECT_EQ(d.vendor_id(), kVendor);
    EXPECT_EQ(d.device_id(), e.device);
    EXPECT_EQ(d.config_readb(0x08), 2);         // revision
    EXPECT_EQ(d.config_readb(0x09), 0);         // prog-if
    EXPECT_EQ(d.config_readw(0x0a), 0x0500);    // memory controller, RAM
    EXPECT_EQ(d.config_readb(0x0e), 0);         // header type 0, single function
    EXPECT_EQ(d.config_readl(0x2c), 0x11001af4u);  // subsystem 1af4:1100
    EXPECT_EQ(d.config_readb(0x3d), 0);         // no INTx pin with MSI-X

    // MSI-X is the first capability, and the table describes our vectors.
    EXPECT_TRUE(d.config_readw(pci::kStatus) & pci::kStatusCapList);
    uint8_t cap = d.config_readb(pci::kCapabilityList);
    ASSERT_NE(cap, 0);
    EXPECT_EQ(d.config_readb(cap), pci::kCapIdMsix);
    EXPECT_EQ(d.find_capability(pci::kCapIdMsix), cap);
    EXPECT_EQ(d.config_readw(static_cast<uint8_t>(cap + 2)), e.vectors - 1);  // disabled, unmasked, N-1
    EXPECT_EQ(d.msix_table_size(), e.vectors);
    EXPECT_EQ(d.config_readl(static_cast<uint8_t>(cap + 4)), 0x00000001u);  // table at 0 in BAR1
    EXPECT_EQ(d.config_readl(static_cast<uint8_t>(cap + 8)), 0x00000801u);  // PBA at 2 KiB in BAR1

    PciBar bar0 = d.iomap(0);
    EXPECT_EQ(bar0.size, 256u);
    EXPECT_FALSE(bar0.is_io);
    EXPECT_EQ(d.config_readl(0x10) & 0xf, 0u);  // 32-bit, not prefetchable
    PciBar bar1 = d.iomap(1);
    EXPECT_EQ(bar1.size, 4096u);
    EXPECT_EQ(d.config_readl(0x14) & 0xf, 0u);
    PciBar bar2 = d.iomap(2);
    EXPECT_EQ(bar2.size, kMemorySize);
    EXPECT_EQ(d.config_readl(0x18) & 0xf, 0xcu);  // 64-bit, prefetchable
    EXPECT_EQ(d.config_readl(0x1c), static_cast<uint32_t>(bar2.addr >> 32));
    bar2s.push_back(bar2.addr);
    for (int n : {3, 4, 5}) EXPECT_EQ(d.config_readl(static_cast<uint8_t>(0x10 + 4 * n)), 0u) << "BAR" << n;

    // After reset every vector is masked and none pending.
    d.enable();
    d.msix_enable();
    for (int v = 0; v < e.vectors; ++v) {
      EXPECT_TRUE(d.msix_masked(v)) << v;
      EXPECT_FALSE(d.msix_pending(v)) << v;
    }
    EXPECT_EQ(d.bar_readl(bar0, kFeatures), kFeatureDoorbell | kFeaturePolling);
  }
  // Both devices have the server's one region: a write through one BAR2 shows in the other.
  ASSERT_EQ(bar2s.size(), 2u);
  q.writel(bar2s[0] + 0x10, 0xfeedf00d);
  EXPECT_EQ(q.readl(bar2s[1] + 0x10), 0xfeedf00du);
  // The one-vector device closes the eventfds beyond its vector, its own 3 and iv0's 3, and
  // counts them; iv0 has room for all of iv1's 4.
  auto dropped = [&](const char* id) {
    nlohmann::json r = q.qmp(nlohmann::json{
        {"execute", "qom-get"}, {"arguments", {{"path", fmt::format("/machine/peripheral/{}", id)}, {"property", "status"}}}});
    return r["return"]["dropped-eventfds"].get<uint64_t>();
  };
  EXPECT_TRUE(eventually([&] { return dropped("iv1") == 6; })) << dropped("iv1");
  EXPECT_EQ(dropped("iv0"), 0u);
  EXPECT_TRUE(q.quit().success()) << q.stderr_text();
}

// Two emulators on one server with `vectors` each ring each other on every vector.
void two_peers_ring_every_vector(unsigned vectors) {
  TempDir dir;
  Server server(dir, vectors);
  ASSERT_TRUE(server.up()) << server.log();
  std::string options = fmt::format("vectors={}", vectors);
  Peer a(server, options);  // connects first: id 0
  Peer b(server, options);
  a.map();
  b.map();

  // Ids: distinct, the server's, in connection order.
  EXPECT_EQ(a.id(), 0u);
  EXPECT_EQ(b.id(), 1u);
  EXPECT_EQ(server.id_of(a.qts().pid()), std::optional<unsigned>(0));
  EXPECT_EQ(server.id_of(b.qts().pid()), std::optional<unsigned>(1));

  for (Peer* p : {&a, &b}) {
    SCOPED_TRACE(fmt::format("peer {}", p->id()));
    EXPECT_EQ(p->reg(kFeatures), kFeatureDoorbell | kFeaturePolling);
    // Eventfds arrive after realize, on the emulator's loop.
    ASSERT_TRUE(eventually([&] { return p->ready(); })) << p->reg(kState);
    EXPECT_EQ(p->reg(kOwnVectors), vectors);
    EXPECT_EQ(p->peer_vectors(p->id()), vectors);  // our own id gives our own vectors
    unsigned other = 1 - p->id();
    ASSERT_TRUE(eventually([&] { return p->peer_vectors(other) == vectors; }));
    EXPECT_EQ(p->reg(kPeerCount), 1u);
    EXPECT_EQ(p->peer_vectors(7), 0u);  // nobody
    EXPECT_EQ(p->reg(kRungVectors), 0u);
  }

  // The memory is shared.
  a.dev().bar_writel(a.bar2(), 0x80, 0xa11ce);
  EXPECT_EQ(b.dev().bar_readl(b.bar2(), 0x80), 0xa11ceu);

  for (unsigned v = 0; v < vectors; ++v) {
    expect_ring_arrives(a, b, v, vectors);
    expect_ring_arrives(b, a, v, vectors);
  }
  // Our own id is in the table like any peer's: ringing ourselves works.
  expect_ring_arrives(a, a, vectors - 1, vectors);

  // A vector the peer does not have is ignored: nothing is written, nothing counted. All 16 bits
  // are decoded (QEMU would take 0x100 + 1 for vector 1).
  std::vector<uint64_t> before_bad = sent(a);
  a.ring(1, vectors);
  a.ring(1, 0x100 + 1);
  a.ring(1, 0xffff);
  EXPECT_EQ(sent(a), before_bad);

  // With MSI-X disabled a ring is consumed: RungVectors shows it, no pending bit, and nothing
  // is left to deliver once MSI-X is enabled again.
  uint8_t msix_control = static_cast<uint8_t>(b.dev().find_capability(pci::kCapIdMsix) + 2);
  b.dev().msix_disable();
  a.ring(1, 0);
  ASSERT_TRUE(eventually([&] { return b.reg(kRungVectors) == 1; }));
  EXPECT_EQ(b.pending_mask(vectors), 0u);
  b.dev().config_writew(msix_control, b.dev().config_readw(msix_control) | pci::kMsixEnable);
  EXPECT_TRUE(b.dev().msix_enabled());
  EXPECT_EQ(b.pending_mask(vectors), 0u);

  // An unmasked entry at the APIC's address goes to the MSI log instead.
  uint64_t before = b.qts().msi_count();
  b.dev().msix_set_entry(0, 0xFEE00000u, 0x4041, false);
  a.ring(1, 0);
  EXPECT_TRUE(eventually([&] { return b.qts().msi_count() == before + 1; }));
  EXPECT_EQ(b.pending_mask(vectors), 0u);

  std::vector<uint64_t> once(vectors, 1), a_sent = once, a_received = once;
  a_sent[0] = 3;  // the APIC one and the one with MSI-X disabled
  std::vector<uint64_t> b_received = a_sent;
  ++a_sent[vectors - 1];  // and the one to itself
  ++a_received[vectors - 1];
  EXPECT_EQ(sent(a), a_sent);
  EXPECT_EQ(received(a), a_received);
  EXPECT_EQ(sent(b), once);
  EXPECT_EQ(received(b), b_received);
  nlohmann::json st = a.status();
  EXPECT_EQ(st["id"], 0);
  EXPECT_EQ(st["server-connected"], true);
  EXPECT_EQ(st["setup-complete"], true);
  EXPECT_EQ(st["vectors"], vectors);
  EXPECT_EQ(st["peers"], nlohmann::json::parse(fmt::format(R"([{{"id": 1, "vectors": {}}}])", vectors)));
  EXPECT_EQ(st["memory-size"], kMemorySize);
  EXPECT_EQ(st["dropped-eventfds"], 0);

  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
}

TEST(IvshmemDoorbell, two_peers_ring_each_other_on_both_of_two_vectors) { two_peers_ring_every_vector(2); }
TEST(IvshmemDoorbell, two_peers_ring_each_other_on_all_of_four_vectors) { two_peers_ring_every_vector(4); }

TEST(IvshmemDoorbell, intx_mode_follows_intr_mask_status_and_intx_disable) {
  TempDir dir;
  Server server(dir, 1);
  ASSERT_TRUE(server.up()) << server.log();
  constexpr int kSlot = 6;
  constexpr int kGsi = 16 + ((kSlot + 0) & 3);  // pc routing of slot 6, INTA
  Peer a(server, "msi=off,ioeventfd=off", kSlot);
  Peer b(server, "vectors=1");
  a.map(false);
  b.map();
  PciDevice& d = a.dev();
  EXPECT_EQ(d.config_readb(0x3d), 1);  // INTA
  EXPECT_EQ(d.find_capability(pci::kCapIdMsix), 0);
  EXPECT_EQ(a.reg(kFeatures), kFeatureDoorbell | kFeatureIntx | kFeaturePolling);
  ASSERT_TRUE(eventually([&] { return a.ready(); }));
  ASSERT_TRUE(eventually([&] { return b.ready() && b.peer_vectors(0) == 1; }));
  a.qts().irq_intercept_in("ioapic");
  auto status_bit = [&] { return (d.config_readw(pci::kStatus) & kStatusInterrupt) != 0; };

  // Enabled: a ring raises the line; reading IntrStatus acknowledges and lowers it.
  a.set_reg(kIntrMask, 1);
  EXPECT_FALSE(a.qts().get_irq(kGsi));
  b.ring(0, 0);
  ASSERT_TRUE(eventually([&] { return a.qts().get_irq(kGsi); }));
  EXPECT_TRUE(status_bit());
  EXPECT_EQ(a.reg(kIntrStatus), 1u);
  EXPECT_FALSE(a.qts().get_irq(kGsi));
  EXPECT_FALSE(status_bit());
  EXPECT_EQ(a.reg(kIntrStatus), 0u);
  EXPECT_EQ(a.reg(kRungVectors), 1u);

  // Masked: the ring is recorded, the line stays low.
  a.set_reg(kIntrMask, 0);
  b.ring(0, 0);
  ASSERT_TRUE(eventually([&] { return a.reg(kRungVectors) == 1; }));
  EXPECT_FALSE(a.qts().get_irq(kGsi));
  EXPECT_FALSE(status_bit());
  EXPECT_EQ(a.reg(kIntrStatus), 1u);
  EXPECT_EQ(a.reg(kIntrStatus), 0u);

  // INTx-disable gates the pin; the status bit still shows the device's interrupt.
  a.set_reg(kIntrMask, 1);
  uint16_t command = d.config_readw(pci::kCommand);
  d.config_writew(pci::kCommand, command | kCommandIntxDisable);
  b.ring(0, 0);
  ASSERT_TRUE(eventually([&] { return a.reg(kRungVectors) == 1; }));
  EXPECT_FALSE(a.qts().get_irq(kGsi));
  EXPECT_TRUE(status_bit());
  d.config_writew(pci::kCommand, command);
  EXPECT_TRUE(a.qts().get_irq(kGsi));
  // Masking lowers it too, unmasking raises it again while IntrStatus holds the ring.
  a.set_reg(kIntrMask, 0);
  EXPECT_FALSE(a.qts().get_irq(kGsi));
  EXPECT_FALSE(status_bit());
  a.set_reg(kIntrMask, 1);
  EXPECT_TRUE(a.qts().get_irq(kGsi));
  EXPECT_EQ(a.reg(kIntrStatus), 1u);
  EXPECT_FALSE(a.qts().get_irq(kGsi));
  EXPECT_FALSE(status_bit());

  EXPECT_EQ(received(a), std::vector<uint64_t>{3});
  EXPECT_EQ(sent(b), std::vector<uint64_t>{3});
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
}

TEST(IvshmemDoorbell, peers_join_and_leave_while_rings_are_in_flight) {
  constexpr unsigned kVectors = 2;
  TempDir dir;
  Server server(dir, kVectors);
  ASSERT_TRUE(server.up()) << server.log();
  Peer a(server, "vectors=2");
  Peer b(server, "vectors=2");
  a.map();
  b.map();
  ASSERT_TRUE(eventually([&] { return a.ready() && b.ready() && a.reg(kPeerCount) == 1 && b.reg(kPeerCount) == 1; }));

  // A third peer joins: everybody learns of it with all its vectors.
  auto c = std::make_unique<Peer>(server, "vectors=2");
  c->map();
  EXPECT_EQ(c->id(), 2u);
  ASSERT_TRUE(eventually([&] { return c->ready(); }));
  EXPECT_EQ(c->reg(kPeerCount), 2u);
  EXPECT_EQ(c->peer_vectors(0), kVectors);
  EXPECT_EQ(c->peer_vectors(1), kVectors);
  for (Peer* p : {&a, &b}) {
    ASSERT_TRUE(eventually([&] { return p->reg(kPeerCount) == 2 && p->peer_vectors(2) == kVectors; }));
  }
  for (unsigned v = 0; v < kVectors; ++v) {
    expect_ring_arrives(a, *c, v, kVectors);
    expect_ring_arrives(b, *c, v, kVectors);
    expect_ring_arrives(*c, a, v, kVectors);
    expect_ring_arrives(*c, b, v, kVectors);
  }

  // It quits while the others keep ringing it.
  std::atomic<bool> done = false;
  ExitStatus c_exit;
  std::thread quitter([&] {
    c_exit = c->qts().quit();
    done = true;
  });
  unsigned rings = 0;
  while (!done || rings < 64) {
    a.ring(2, rings % kVectors);
    b.ring(2, (rings + 1) % kVectors);
    ++rings;
  }
  quitter.join();
  EXPECT_TRUE(c_exit.success()) << c->qts().stderr_text();
  c.reset();

  for (Peer* p : {&a, &b}) {
    SCOPED_TRACE(fmt::format("peer {}", p->id()));
    ASSERT_TRUE(eventually([&] { return p->reg(kPeerCount) == 1; }));
    EXPECT_EQ(p->peer_vectors(2), 0u);
    EXPECT_EQ(p->peer_vectors(1 - p->id()), kVectors);
    EXPECT_EQ(p->reg(kState), kStateSetupComplete | kStateServerConnected);
    // Rings to the departed id are ignored: not counted, no error.
    std::vector<uint64_t> before = sent(*p);
    p->ring(2, 0);
    p->ring(2, 1);
    EXPECT_EQ(sent(*p), before);
    EXPECT_EQ(p->status()["peers"].size(), 1u);
  }
  // The two that remain still ring each other.
  for (unsigned v = 0; v < kVectors; ++v) {
    expect_ring_arrives(a, b, v, kVectors);
    expect_ring_arrives(b, a, v, kVectors);
  }
  EXPECT_EQ(a.qts().stderr_text(), "");  // nothing reported about the departed peer
  EXPECT_EQ(b.qts().stderr_text(), "");
  EXPECT_TRUE(a.qts().quit().success());
  EXPECT_TRUE(b.qts().quit().success());
}

TEST(IvshmemDoorbell, ivshmem_client_is_a_peer) {
  constexpr unsigned kVectors = 2;
  TempDir dir;
  Server server(dir, kVectors);
  ASSERT_TRUE(server.up()) << server.log();
  Peer a(server, "vectors=2");
  a.map();
  ASSERT_TRUE(eventually([&] { return a.ready(); }));

  // The client rings the emulator on both vectors: both pending bits appear.
  RunResult r = run_command(
      fmt::format("{} -S {} -e 'wait-peer 0 2; int 0 all' -t 15", client_binary(), server.socket()), 30s);
  ASSERT_TRUE(r.status.success()) << r.status.describe() << "\n" << r.out << r.err;
  ASSERT_TRUE(eventually([&] { return a.pending_mask(kVectors) == 3; }));
  EXPECT_EQ(a.reg(kRungVectors), 3u);
  EXPECT_EQ(received(a), (std::vector<uint64_t>{1, 1}));

  // The emulator rings a waiting client on both vectors; the client hears both.
  ASSERT_TRUE(eventually([&] { return a.reg(kPeerCount) == 0; }));  // the first client has gone
  std::string out_path = dir.file("client.out");
  int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(out, 0);
  ChildProcess waiter =
      ChildProcess::spawn(fmt::format("{} -S {} -w 2 -t 15", client_binary(), server.socket()), out, out);
  ::close(out);
  ASSERT_TRUE(eventually([&] { return a.reg(kPeerCount) == 1; }));
  unsigned client_id = a.status()["peers"][0]["id"].get<unsigned>();
  EXPECT_NE(client_id, 0u);
  ASSERT_TRUE(eventually([&] { return a.peer_vectors(client_id) == kVectors; }));
  a.ring(client_id, 0);
  a.ring(client_id, 1);
  std::optional<ExitStatus> st = waiter.wait_for(30s);
  ASSERT_TRUE(st);
  EXPECT_TRUE(st->success()) << st->describe() << "\n" << read_text(out_path);
  EXPECT_EQ(read_text(out_path), "notification on vector 0 (count 1)\nnotification on vector 1 (count 1)\n");
  EXPECT_EQ(sent(a), (std::vector<uint64_t>{1, 1}));
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
}

TEST(IvshmemDoorbell, more_vectors_than_the_server_sends_leave_setup_incomplete) {
  TempDir dir;
  Server server(dir, 2);
  ASSERT_TRUE(server.up()) << server.log();
  Peer a(server, "vectors=4");
  Peer b(server, "vectors=2");
  a.map();
  b.map();
  ASSERT_TRUE(eventually([&] { return a.reg(kOwnVectors) == 2 && a.peer_vectors(1) == 2; }));
  EXPECT_EQ(a.reg(kState), kStateServerConnected);  // vectors 2 and 3 never arrive
  EXPECT_EQ(a.status()["setup-complete"], false);
  ASSERT_TRUE(eventually([&] { return b.ready() && b.peer_vectors(0) == 2; }));
  // The vectors that did arrive work.
  expect_ring_arrives(b, a, 1, 4);
  expect_ring_arrives(a, b, 1, 2);
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
}

TEST(IvshmemDoorbell, function_mask_holds_rings_pending_until_cleared) {
  constexpr unsigned kVectors = 2;
  TempDir dir;
  Server server(dir, kVectors);
  ASSERT_TRUE(server.up()) << server.log();
  Peer a(server, "vectors=2");
  Peer b(server, "vectors=2");
  a.map();
  b.map();
  ASSERT_TRUE(eventually([&] { return b.ready() && a.ready() && a.peer_vectors(1) == kVectors; }));
  PciDevice& d = b.dev();
  uint8_t control = static_cast<uint8_t>(d.find_capability(pci::kCapIdMsix) + 2);
  // Both entries unmasked and pointing into RAM, but the whole function masked.
  for (unsigned v = 0; v < kVectors; ++v) {
    b.qts().writel(kMsiRam + 4 * v, 0);
    d.msix_set_entry(static_cast<int>(v), kMsiRam + 4 * v, 0xf00 + v, false);
  }
  d.config_writew(control, d.config_readw(control) | pci::kMsixMaskAll);
  a.ring(1, 0);
  a.ring(1, 1);
  ASSERT_TRUE(eventually([&] { return b.pending_mask(kVectors) == 3; }));
  EXPECT_EQ(b.qts().readl(kMsiRam), 0u);
  EXPECT_EQ(b.qts().readl(kMsiRam + 4), 0u);
  // Clearing the function mask delivers both and clears the bits.
  d.config_writew(control, static_cast<uint16_t>(d.config_readw(control) & ~pci::kMsixMaskAll));
  EXPECT_EQ(b.pending_mask(kVectors), 0u);
  EXPECT_EQ(b.qts().readl(kMsiRam), 0xf00u);
  EXPECT_EQ(b.qts().readl(kMsiRam + 4), 0xf01u);
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
}

TEST(IvshmemDoorbell, system_reset_masks_vectors_and_keeps_the_peers) {
  constexpr unsigned kVectors = 2;
  TempDir dir;
  Server server(dir, kVectors);
  ASSERT_TRUE(server.up()) << server.log();
  Peer a(server, "vectors=2");
  Peer b(server, "vectors=2");
  a.map();
  b.map();
  ASSERT_TRUE(eventually([&] { return b.ready() && a.ready() && a.peer_vectors(1) == kVectors; }));
  // Leave state behind on b: an unmasked entry, a pending bit, a rung vector, IntrMask.
  b.dev().msix_set_entry(0, kMsiRam, 1, false);
  b.set_reg(kIntrMask, 1);
  b.set_reg(kPeerSelect, 7);
  a.ring(1, 1);
  ASSERT_TRUE(eventually([&] { return b.dev().msix_pending(1); }));

  ASSERT_TRUE(b.qts().qmp(R"({"execute": "system_reset"})").contains("return"));
  b.qts().qmp_eventwait("RESET");
  PciDevice& d = b.dev();
  EXPECT_EQ(d.config_readw(pci::kCommand) & 7, 0);
  EXPECT_FALSE(d.msix_enabled());
  b.map();  // reprogram the BARs and enable MSI-X again, as a driver would after reset
  for (int v = 0; v < static_cast<int>(kVectors); ++v) {
    EXPECT_TRUE(d.msix_masked(v)) << v;
    EXPECT_FALSE(d.msix_pending(v)) << v;
  }
  EXPECT_EQ(b.reg(kIntrMask), 0u);
  EXPECT_EQ(b.reg(kPeerSelect), 0u);
  EXPECT_EQ(b.reg(kRungVectors), 0u);
  // The server link is not reset: same id, same peers, rings still arrive.
  EXPECT_EQ(b.id(), 1u);
  EXPECT_EQ(b.reg(kState), kStateSetupComplete | kStateServerConnected);
  EXPECT_EQ(b.peer_vectors(0), kVectors);
  for (unsigned v = 0; v < kVectors; ++v) {
    expect_ring_arrives(a, b, v, kVectors);
    expect_ring_arrives(b, a, v, kVectors);
  }
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
}

TEST(IvshmemDoorbell, peers_outlive_a_killed_server) {
  constexpr unsigned kVectors = 2;
  TempDir dir;
  Server server(dir, kVectors);
  ASSERT_TRUE(server.up()) << server.log();
  Peer a(server, "vectors=2");
  Peer b(server, "vectors=2");
  a.map();
  b.map();
  ASSERT_TRUE(eventually([&] { return a.ready() && b.ready() && a.peer_vectors(1) == kVectors && b.peer_vectors(0) == kVectors; }));

  ExitStatus killed = server.process().kill_now();
  EXPECT_EQ(killed.signal, SIGKILL);
  for (Peer* p : {&a, &b}) {
    SCOPED_TRACE(fmt::format("peer {}", p->id()));
    ASSERT_TRUE(eventually([&] { return p->reg(kState) == kStateSetupComplete; }));
    EXPECT_EQ(p->reg(kPeerCount), 1u);
    nlohmann::json st = p->status();
    EXPECT_EQ(st["server-connected"], false);
    EXPECT_EQ(st["setup-complete"], true);
  }
  // The eventfds are direct between the peers: rings still work.
  for (unsigned v = 0; v < kVectors; ++v) {
    expect_ring_arrives(a, b, v, kVectors);
    expect_ring_arrives(b, a, v, kVectors);
  }
  EXPECT_TRUE(a.qts().quit().success()) << a.qts().stderr_text();
  EXPECT_TRUE(b.qts().quit().success()) << b.qts().stderr_text();
}

}  // namespace
}  // namespace nahanni::qtest
