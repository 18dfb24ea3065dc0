// Host-side tests of the Linux guest tool's library (guest/linux): sysfs parsing on a fake
// tree, device identification, register access and BAR mapping on files, the interrupt
// backends' device-side effects, the test pattern and the ping/pong mailbox protocol.
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "fake-sysfs.h"
#include "interrupt-backend.h"
#include "ivshmem-device.h"
#include "ping-pong.h"
#include "test-pattern.h"
#include "util/fd.h"

namespace nahanni::guest {
namespace {

using test::FakeFunction;
using test::FakeSysfs;

uint32_t le32_at(const std::vector<uint8_t>& b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.data() + off, 4);
  return v;
}

TEST(PciSysfs, ListsFunctionsInAddressOrderWithIdsResourcesAndDriver) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:04.0", .device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 11,
          .driver = "uio_pci_generic"});
  fs.add({.bdf = "0000:00:03.0"});
  auto all = list_pci_functions(fs.root());
  ASSERT_TRUE(all.ok()) << all.error().message();
  ASSERT_EQ(all->size(), 2u);
  const auto& a = (*all)[0];
  const auto& b = (*all)[1];
  EXPECT_EQ(a.bdf, "0000:00:03.0");
  EXPECT_EQ(a.vendor, 0x1af4);
  EXPECT_EQ(a.device, 0x1110);
  EXPECT_EQ(a.revision, 1);
  EXPECT_EQ(a.class_code, 0x050000u);
  ASSERT_NE(a.resource(2), nullptr);
  EXPECT_EQ(a.resource(2)->size(), 1u << 20);
  EXPECT_EQ(a.resource(0)->size(), 256u);
  EXPECT_EQ(a.resource(1), nullptr);
  EXPECT_TRUE(a.driver.empty());
  EXPECT_EQ(b.device, 0x1111);
  EXPECT_EQ(b.interrupt_pin, 1);
  EXPECT_EQ(b.irq, 11u);
  EXPECT_EQ(b.driver, "uio_pci_generic");
}

TEST(PciSysfs, MalformedFilesAreErrorsNamingTheFile) {
  FakeSysfs fs;
  fs.add({});
  FakeSysfs::write(fs.dir("0000:00:03.0") + "/resource", "0x1000 nonsense\n");
  auto fn = read_pci_function(fs.root(), "0000:00:03.0");
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(fn.error().message().find("/resource: malformed line"), std::string::npos) << fn.error().message();

  FakeSysfs::write(fs.dir("0000:00:03.0") + "/vendor", "red hat\n");
  fn = read_pci_function(fs.root(), "0000:00:03.0");
  ASSERT_FALSE(fn.ok());
  EXPECT_NE(fn.error().message().find("/vendor: 'red hat' is not a number"), std::string::npos);

  auto missing = list_pci_functions(fs.root() + "/nowhere");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("cannot list"), std::string::npos);
}

TEST(PciSysfs, CapabilityWalkFindsMsixAndSurvivesALoop) {
  std::vector<uint8_t> config(256, 0);
  config[6] = 0x10;
  config[0x34] = 0x40;
  config[0x40] = 0x05;  // MSI
  config[0x41] = 0x50;
  config[0x50] = 0x11;  // MSI-X
  EXPECT_EQ(find_capability(config, 0x11), 0x50);
  EXPECT_EQ(find_capability(config, 0x10), 0);
  config[0x51] = 0x40;  // loops back to 0x40
  EXPECT_EQ(find_capability(config, 0x10), 0);
  config[6] = 0;  // no capability list at all
  EXPECT_EQ(find_capability(config, 0x11), 0);
}

TEST(IvshmemIdentity, TellsPlainDoorbellAndLegacyApart) {
  auto kind_of = [](const FakeFunction& f) -> std::optional<IvshmemKind> {
    FakeSysfs fs;
    fs.add(f);
    auto fn = read_pci_function(fs.root(), f.bdf);
    EXPECT_TRUE(fn.ok());
    auto id = identify_ivshmem(*fn);
    if (!id) return std::nullopt;
    return id->kind;
  };
  // QEMU >= 2.6: the same ID for both, a doorbell has MSI-X and BAR1.
  EXPECT_EQ(kind_of({.revision = 1}), IvshmemKind::Plain);
  EXPECT_EQ(kind_of({.revision = 1, .msix = true, .bar_sizes = {256, 4096, 1 << 20}}), IvshmemKind::Doorbell);
  // nahanni: its own doorbell ID; legacy-id=on shows 1110 rev 2 with MSI-X or a pin.
  EXPECT_EQ(kind_of({.device = 0x1111, .revision = 2}), IvshmemKind::Doorbell);
  EXPECT_EQ(kind_of({.revision = 2}), IvshmemKind::Plain);
  EXPECT_EQ(kind_of({.revision = 2, .interrupt_pin = 1}), IvshmemKind::Doorbell);
  EXPECT_EQ(kind_of({.revision = 0, .interrupt_pin = 1}), IvshmemKind::Legacy);
  EXPECT_EQ(kind_of({.vendor = 0x8086, .device = 0x1110}), std::nullopt);
  EXPECT_EQ(kind_of({.device = 0x1000}), std::nullopt);
}

TEST(IvshmemRegisters, AccessWordsAtTheSpecifiedOffsets) {
  UniqueFd fd(::memfd_create("bar0", MFD_CLOEXEC));
  ASSERT_TRUE(fd.valid());
  ASSERT_EQ(::ftruncate(fd.get(), 256), 0);
  auto map = MappedRegion::map_fd(fd.get(), 0, "bar0 memfd");
  ASSERT_TRUE(map.ok()) << map.error().message();
  auto* words = reinterpret_cast<uint32_t*>(map->data());
  IvshmemRegisters regs(map->data());
  words[2] = 7;
  EXPECT_EQ(regs.iv_position(), 7u);
  regs.ring(3, 1);
  EXPECT_EQ(words[3], 0x00030001u);
  regs.ring(0xffff, 0x1234);
  EXPECT_EQ(words[3], 0xffff1234u);
  regs.set_intr_mask(1);
  EXPECT_EQ(words[0], 1u);
  words[1] = 1;
  EXPECT_EQ(regs.take_intr_status(), 1u);
  words[8] = 0x5;
  EXPECT_EQ(regs.take_rung_vectors(), 5u);
  words[4] = IvshmemRegisters::kFeaturePolling;
  EXPECT_EQ(regs.features(), IvshmemRegisters::kFeaturePolling);
}

TEST(IvshmemDevice, OpenEnablesMemoryDecodingAndMapsBar0AndBar2) {
  FakeSysfs fs;
  fs.add({.command = 0});
  auto fn = read_pci_function(fs.root(), "0000:00:03.0");
  ASSERT_TRUE(fn.ok());
  auto dev = IvshmemDevice::open(*fn);
  ASSERT_TRUE(dev.ok()) << dev.error().message();
  EXPECT_EQ(dev->memory_size(), 1u << 20);
  EXPECT_FALSE(dev->has_doorbell());
  auto config = fs.read_bytes(fs.dir("0000:00:03.0") + "/config");
  EXPECT_EQ(config[4] & 0x2, 0x2) << "Command.Memory must be set";
  dev->memory()[4096] = 0xab;
  dev->registers().ring(1, 0);
  auto mem = fs.read_bytes(fs.dir("0000:00:03.0") + "/resource2");
  EXPECT_EQ(mem[4096], 0xab);
  auto bar0 = fs.read_bytes(fs.dir("0000:00:03.0") + "/resource0");
  EXPECT_EQ(le32_at(bar0, 12), 0x00010000u);
}

TEST(IvshmemDevice, RefusesNonIvshmemAndUnassignedBars) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:05.0", .vendor = 0x8086});
  fs.add({.bdf = "0000:00:06.0", .bar_sizes = {256, 0, 0}});
  auto other = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:05.0"));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message().find("is not an ivshmem device"), std::string::npos);
  auto nobar = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:06.0"));
  ASSERT_FALSE(nobar.ok());
  EXPECT_NE(nobar.error().message().find("BAR2 (shared memory) is not assigned"), std::string::npos);
  auto list = list_ivshmem_functions(fs.root());
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 1u);
}

TEST(InterruptBackend, PlainDevicesHaveNoneAndUioNeedsAPinAndABinding) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:03.0"});
  fs.add({.bdf = "0000:00:04.0", .revision = 1, .msix = true, .bar_sizes = {256, 4096, 1 << 20}});
  fs.add({.bdf = "0000:00:05.0", .device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 10});
  auto plain = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:03.0"));
  ASSERT_TRUE(plain.ok());
  auto none = open_interrupt_backend(*plain, "auto");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("has no doorbell"), std::string::npos);

  auto qemu = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:04.0"));
  ASSERT_TRUE(qemu.ok());
  auto uio = open_interrupt_backend(*qemu, "uio");
  ASSERT_FALSE(uio.ok());
  EXPECT_NE(uio.error().message().find("has no interrupt pin"), std::string::npos);
  auto bogus = open_interrupt_backend(*qemu, "carrier-pigeon");
  ASSERT_FALSE(bogus.ok());
  EXPECT_NE(bogus.error().message().find("unknown interrupt backend"), std::string::npos);
  auto poll = open_interrupt_backend(*qemu, "poll");
  ASSERT_FALSE(poll.ok());
  EXPECT_NE(poll.error().message().find("needs a nahanni revision-2 doorbell"), std::string::npos);

  auto intx = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:05.0"));
  ASSERT_TRUE(intx.ok());
  auto unbound = open_interrupt_backend(*intx, "auto");
  ASSERT_FALSE(unbound.ok());
  EXPECT_NE(unbound.error().message().find("ivshmem-guest bind-uio -d 0000:00:05.0"), std::string::npos)
      << unbound.error().message();
}

TEST(Uio, BindWritesDriverOverrideAndProbes) {
  FakeSysfs fs;
  fs.add({.device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 10});
  auto fn = *read_pci_function(fs.root(), "0000:00:03.0");
  auto unloaded = bind_to_uio(fn);
  ASSERT_FALSE(unloaded.ok());
  EXPECT_NE(unloaded.error().message().find("modprobe uio_pci_generic"), std::string::npos);
  std::filesystem::create_directories(fs.root() + "/bus/pci/drivers/uio_pci_generic");
  FakeSysfs::write(fs.root() + "/bus/pci/drivers_probe", "");
  FakeSysfs::write(fs.dir("0000:00:03.0") + "/driver_override", "");
  ASSERT_TRUE(bind_to_uio(fn).ok());
  auto text = [&](const std::string& path) {
    auto b = fs.read_bytes(path);
    return std::string(b.begin(), b.end());
  };
  EXPECT_EQ(text(fs.dir("0000:00:03.0") + "/driver_override"), "uio_pci_generic");
  EXPECT_EQ(text(fs.root() + "/bus/pci/drivers_probe"), "0000:00:03.0");
}

// The uio backend on a fake node: a FIFO stands in for /dev/uioN (the backend's own
// re-enable write makes it readable), IntrStatus in the fake BAR0 says whether a peer rang.
TEST(Uio, BackendSetsIntrMaskReEnablesAndReturnsOnIntrStatus) {
  FakeSysfs fs;
  fs.add({.device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 10});
  std::string dir = fs.dir("0000:00:03.0");
  std::filesystem::create_directories(dir + "/uio/uio3");
  std::filesystem::create_directories(fs.root() + "/dev");
  ASSERT_EQ(::mkfifo((fs.root() + "/dev/uio3").c_str(), 0600), 0);
  auto dev = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:03.0"));
  ASSERT_TRUE(dev.ok());
  auto backend = open_interrupt_backend(*dev, "auto");
  ASSERT_TRUE(backend.ok()) << backend.error().message();
  EXPECT_EQ((*backend)->name(), "uio");
  EXPECT_EQ(le32_at(fs.read_bytes(dir + "/resource0"), 0), 1u) << "IntrMask set so a ring raises INTx";

  // No ring: the backend re-enables, polls and reads the node until the timeout, and says 0.
  auto quiet = (*backend)->wait(std::chrono::milliseconds(20));
  ASSERT_TRUE(quiet.ok()) << quiet.error().message();
  EXPECT_EQ(*quiet, 0u);

  fs.write_bytes(dir + "/resource0", 4, {1, 0, 0, 0});  // a ring: IntrStatus set, as the device does
  auto rung = (*backend)->wait(std::chrono::milliseconds(60000));
  ASSERT_TRUE(rung.ok()) << rung.error().message();
  EXPECT_EQ(*rung, 1u);
}

TEST(InterruptBackend, AutoUsesUioOnlyWhenBoundAndPollsRevision2Otherwise) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:03.0", .device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 10});
  fs.add({.bdf = "0000:00:04.0", .device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 11,
          .driver = "uio_pci_generic"});
  for (const char* bdf : {"0000:00:03.0", "0000:00:04.0"})
    fs.write_bytes(fs.dir(bdf) + "/resource0", 0x10, {0xb, 0, 0, 0});  // doorbell, intx, polling
  std::filesystem::create_directories(fs.dir("0000:00:04.0") + "/uio/uio0");
  std::filesystem::create_directories(fs.root() + "/dev");
  ASSERT_EQ(::mkfifo((fs.root() + "/dev/uio0").c_str(), 0600), 0);
  auto unbound = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:03.0"));
  auto bound = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:04.0"));
  ASSERT_TRUE(unbound.ok() && bound.ok());
  auto a = open_interrupt_backend(*unbound, "auto");
  ASSERT_TRUE(a.ok()) << a.error().message();
  EXPECT_EQ((*a)->name(), "poll");
  auto b = open_interrupt_backend(*bound, "auto");
  ASSERT_TRUE(b.ok()) << b.error().message();
  EXPECT_EQ((*b)->name(), "uio");
}

TEST(InterruptBackend, MsixPollEnablesMsixMasksVectorsAndReportsPendingBits) {
  FakeSysfs fs;
  fs.add({.revision = 1, .msix = true, .command = 0x6, .bar_sizes = {256, 4096, 1 << 20}});
  std::string dir = fs.dir("0000:00:03.0");
  auto dev = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:03.0"));
  ASSERT_TRUE(dev.ok());
  auto backend = open_interrupt_backend(*dev, "auto");
  ASSERT_TRUE(backend.ok()) << backend.error().message();
  EXPECT_EQ((*backend)->name(), "msix-poll");
  auto config = fs.read_bytes(dir + "/config");
  EXPECT_EQ(config[0x43] & 0xc0, 0x80) << "MSI-X enabled, function mask clear";
  EXPECT_EQ(config[4] & 0x4, 0) << "Bus Master must be off";
  auto bar1 = fs.read_bytes(dir + "/resource1");
  EXPECT_EQ(le32_at(bar1, 12), 1u) << "vector 0 masked";
  EXPECT_EQ(le32_at(bar1, 16 + 12), 1u) << "vector 1 masked";

  auto nothing = (*backend)->wait(std::chrono::milliseconds(0));
  ASSERT_TRUE(nothing.ok());
  EXPECT_EQ(*nothing, 0u);
  fs.write_bytes(dir + "/resource1", 0x800, {0x2, 0, 0, 0});  // vector 1 pending
  auto rung = (*backend)->wait(std::chrono::milliseconds(60000));
  ASSERT_TRUE(rung.ok());
  EXPECT_EQ(*rung, 0x2u);
  bar1 = fs.read_bytes(dir + "/resource1");
  EXPECT_EQ(le32_at(bar1, 16 + 12), 1u) << "vector 1 masked again after the clearing unmask";
}

TEST(InterruptBackend, PollReadsRungVectorsOfRevision2Devices) {
  FakeSysfs fs;
  fs.add({.device = 0x1111, .revision = 2});
  std::string dir = fs.dir("0000:00:03.0");
  fs.write_bytes(dir + "/resource0", 0x10, {0x9, 0, 0, 0});  // Features: doorbell, polling
  auto dev = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:03.0"));
  ASSERT_TRUE(dev.ok());
  auto backend = open_interrupt_backend(*dev, "auto");
  ASSERT_TRUE(backend.ok()) << backend.error().message();
  EXPECT_EQ((*backend)->name(), "poll");
  fs.write_bytes(dir + "/resource0", 0x20, {0x4, 0, 0, 0});
  auto rung = (*backend)->wait(std::chrono::milliseconds(60000));
  ASSERT_TRUE(rung.ok());
  EXPECT_EQ(*rung, 0x4u);
}

TEST(TestPattern, DependsOnSeedAndOffset) {
  std::vector<uint8_t> buf(4096);
  fill_pattern(buf.data(), buf.size(), 42, 0x1000);
  EXPECT_EQ(check_pattern(buf.data(), buf.size(), 42, 0x1000), std::nullopt);
  EXPECT_TRUE(check_pattern(buf.data(), buf.size(), 43, 0x1000).has_value());
  EXPECT_TRUE(check_pattern(buf.data(), buf.size(), 42, 0x1008).has_value()) << "a shifted copy must not pass";
  buf[1234] ^= 1;
  EXPECT_EQ(check_pattern(buf.data(), buf.size(), 42, 0x1000), std::optional<size_t>(1234));
}

// Rings go nowhere on files; this backend wakes the waiter often so it re-reads the mailbox.
class NudgeBackend final : public InterruptBackend {
 public:
  std::string_view name() const override { return "nudge"; }
  Result<uint32_t> wait(std::chrono::milliseconds timeout) override {
    std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(1)));
    return 1u;
  }
};

TEST(PingPong, MailboxCarriesSequencesAndPayloadsBothWays) {
  FakeSysfs fs;
  fs.add({.device = 0x1111, .revision = 2});
  std::string dir = fs.dir("0000:00:03.0");
  fs.write_bytes(dir + "/resource0", 8, {5, 0, 0, 0});  // IVPosition 5 for both ends
  auto fn = *read_pci_function(fs.root(), "0000:00:03.0");
  auto pinger = IvshmemDevice::open(fn);
  auto ponger = IvshmemDevice::open(fn);
  ASSERT_TRUE(pinger.ok() && ponger.ok());
  PingOptions opts;
  opts.mailbox_offset = 0x1000;
  opts.count = 25;
  opts.payload = 512;
  Result<unsigned> answered = 0u;
  std::thread pong([&] {
    NudgeBackend nudge;
    answered = run_pong(*ponger, nudge, opts);
  });
  NudgeBackend nudge;
  auto stats = run_ping(*pinger, nudge, opts);
  pong.join();
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  ASSERT_TRUE(answered.ok()) << answered.error().message();
  EXPECT_EQ(stats->rounds, 25u);
  EXPECT_EQ(*answered, 25u);
  auto mem = fs.read_bytes(dir + "/resource2");
  EXPECT_EQ(le32_at(mem, 0x1000 + 0), 6u) << "ponger id + 1";
  EXPECT_EQ(le32_at(mem, 0x1000 + 4), 6u) << "pinger id + 1";
  EXPECT_EQ(le32_at(mem, 0x1000 + 8), 25u);
  EXPECT_EQ(le32_at(mem, 0x1000 + 12), 25u);
  auto bar0 = fs.read_bytes(dir + "/resource0");
  EXPECT_EQ(le32_at(bar0, 12), 0x00050000u) << "the last ring went to peer 5, vector 0";
}

TEST(PingPong, MailboxOutsideTheMemoryIsRefused) {
  FakeSysfs fs;
  fs.add({.device = 0x1111, .revision = 2});
  auto dev = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:03.0"));
  ASSERT_TRUE(dev.ok());
  NudgeBackend nudge;
  PingOptions opts;
  opts.mailbox_offset = (1 << 20) - 64;
  auto r = run_ping(*dev, nudge, opts);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("does not fit"), std::string::npos);
}

}  // namespace
}  // namespace nahanni::guest
