// ivshmem-doorbell's irqfds as the device manages them, in-process under KVM: the test plays
// the guest driver from the host side (BARs, MSI-X enable, table entries, masks) while a
// hand-made guest takes the interrupts, and a host peer rings the device's vector 0. The irqfd
// is bound once the vector may fire, follows a rewritten entry, is released on mask (the ring
// then sets the pending bit, counted as delivered by the device) and bound again on unmask
// (the pending one delivered). Skips without /dev/kvm.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "../contrib/test-support.h"
#include "chardev/char.h"
#include "guest-entry.h"
#include "hw/core/qdev-monitor.h"
#include "hw/misc/ivshmem-common.h"
#include "hw/misc/ivshmem-regs.h"
#include "hw/pci/pci-regs.h"
#include "kvm-fixture.h"
#include "system/machine-lock.h"

namespace nahanni::test {
namespace {

constexpr uint64_t kBar0 = 0xe0000000, kBar1 = 0xe0001000;

class KvmDoorbellDeviceTest : public KvmTest {
 protected:
  void TearDown() override {
    remove_device(dev_);
    object_root().remove_child("chardevs");
    KvmTest::TearDown();
  }

  Status add(const std::string& kind, std::vector<std::pair<std::string, std::string>> items, Device** out) {
    OptionList opts;
    for (auto& [k, v] : items) opts.items.emplace_back(k, OptionValue::from_text(v));
    if (kind == "chardev") {
      NN_ASSIGN_OR_RETURN(Chardev * chr, chardev_add(std::move(opts), OptionSource::CommandLine));
      (void)chr;
      return {};
    }
    NN_ASSIGN_OR_RETURN(Device * dev, device_add(std::move(opts), OptionSource::CommandLine, false));
    *out = dev;
    return {};
  }

  nlohmann::json status() {
    MachineLockGuard locked;
    auto out = dev_->get_property("status");
    return out ? *out : nlohmann::json();
  }
  void cfg_write(uint32_t offset, uint32_t value, unsigned len) {
    MachineLockGuard locked;
    pc_->pci_bus().config_write(dev_->devfn(), offset, value, len);
  }
  void mmio_write(uint64_t address, uint32_t value) {
    MachineLockGuard locked;
    pc_->memory()->write_value(address, value, 4);
  }
  uint32_t mmio_read(uint64_t address) {
    MachineLockGuard locked;
    return static_cast<uint32_t>(pc_->memory()->read_value(address, 4));
  }

  ivshmem::test::TempDir dir_;
  IvshmemCommon* dev_ = nullptr;
};

TEST_F(KvmDoorbellDeviceTest, irqfd_follows_the_msix_entry_and_its_mask) {
  auto server = ivshmem::test::start_server(dir_, dir_.file("sock"), {"-l", "1M", "-n", "1"});
  ASSERT_NE(server, nullptr);
  ivshmem::test::RawPeer host(dir_.file("sock"));
  ASSERT_TRUE(host.pump_until([&] { return host.session().ready() && host.vectors_of(host.id()) == 1; }));

  create();
  ASSERT_TRUE(add("chardev", {{"backend", "socket"}, {"id", "c0"}, {"path", dir_.file("sock")}}, nullptr).ok());
  Device* dev = nullptr;
  Status st = add("device", {{"driver", "ivshmem-doorbell"}, {"chardev", "c0"}, {"vectors", "1"}, {"id", "ivs"}}, &dev);
  ASSERT_TRUE(st.ok()) << st.error().message();
  dev_ = dynamic_cast<IvshmemCommon*>(dev);
  ASSERT_NE(dev_, nullptr);
  ASSERT_TRUE(host.pump_until([&] { return host.vectors_of(1) == 1; }));
  ASSERT_TRUE(ivshmem::test::eventually([&] {
    main_loop().run_once(std::chrono::milliseconds(10));
    return status()["setup-complete"] == true;
  }));

  // The guest: handlers for vectors 0x40 and 0x41 report on port 0x500.
  auto entry = protected_mode_entry(ram(), 0x1000);
  for (uint64_t vector : {0x40, 0x41}) {
    uint64_t handler = vector == 0x40 ? 0x1100 : 0x1200;
    uint64_t gate = handler | (0x08ull << 16) | (0x8eull << 40);
    std::memcpy(ram() + kIdtAddress + vector * 8, &gate, 8);
    poke(handler, {0x66, 0xba, 0x00, 0x05, 0xb0, static_cast<uint8_t>(vector), 0xee, 0xc7, 0x05, 0xb0, 0x00, 0xe0,
                   0xfe, 0x00, 0x00, 0x00, 0x00, 0xfb, 0xeb, 0xfe});
  }
  entry.idt_base = kIdtAddress;
  entry.idt_limit = 0x7ff;
  poke(0x1000, {0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00, 0x66, 0xba, 0x01, 0x05, 0xee, 0xfb,
                0xeb, 0xfe});
  run(entry);
  ASSERT_TRUE(log.wait_for(kTestPort + 1));

  // The "driver": BAR0 and BAR1, memory decoding, MSI-X on, entry 0 -> vector 0x40, unmasked.
  cfg_write(pci::kBar0, static_cast<uint32_t>(kBar0), 4);
  cfg_write(pci::kBar0 + 4, static_cast<uint32_t>(kBar1), 4);
  cfg_write(pci::kCommand, pci::kCommandMemory | pci::kCommandMaster, 2);
  uint8_t cap = dev_->msix()->cap_offset();
  cfg_write(cap + 2, 0x8000, 2);  // MSI-X enable
  EXPECT_EQ(status()["fast-paths"][0]["irqfd"], false);  // still masked
  mmio_write(kBar1 + 0, 0xfee00000);
  mmio_write(kBar1 + 4, 0);
  mmio_write(kBar1 + 8, 0x40);
  mmio_write(kBar1 + 12, 0);  // unmask
  EXPECT_EQ(status()["fast-paths"][0]["irqfd"], true);

  ASSERT_TRUE(ivshmem::test::ring(host.vector_fd(1, 0)));
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x40u);

  mmio_write(kBar1 + 8, 0x41);  // the driver points the vector elsewhere
  EXPECT_EQ(status()["fast-paths"][0]["irqfd"], true);
  ASSERT_TRUE(ivshmem::test::ring(host.vector_fd(1, 0)));
  w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x41u);
  EXPECT_EQ(status()["doorbells-received"], nlohmann::json({0}));  // both through the kernel

  mmio_write(kBar1 + 12, 1);  // mask
  EXPECT_EQ(status()["fast-paths"][0]["irqfd"], false);
  ASSERT_TRUE(ivshmem::test::ring(host.vector_fd(1, 0)));
  // The device reads the ring itself now and leaves it pending.
  ASSERT_TRUE(ivshmem::test::eventually([&] {
    main_loop().run_once(std::chrono::milliseconds(10));
    return status()["doorbells-received"] == nlohmann::json({1});
  }));
  EXPECT_EQ(mmio_read(kBar1 + 0x800) & 1, 1u);  // PBA bit 0

  mmio_write(kBar1 + 12, 0);  // unmask: the pending one is delivered, the irqfd comes back
  w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x41u);
  EXPECT_EQ(mmio_read(kBar1 + 0x800) & 1, 0u);
  EXPECT_EQ(status()["fast-paths"][0]["irqfd"], true);
}

TEST_F(KvmDoorbellDeviceTest, doorbell_ioeventfds_follow_bar0_and_leave_with_their_peer) {
  auto server = ivshmem::test::start_server(dir_, dir_.file("sock"), {"-l", "1M", "-n", "2"});
  ASSERT_NE(server, nullptr);
  auto host = std::make_unique<ivshmem::test::RawPeer>(dir_.file("sock"));
  ASSERT_TRUE(host->pump_until([&] { return host->session().ready() && host->vectors_of(host->id()) == 2; }));

  create();
  ASSERT_TRUE(add("chardev", {{"backend", "socket"}, {"id", "c0"}, {"path", dir_.file("sock")}}, nullptr).ok());
  Device* dev = nullptr;
  Status st = add("device", {{"driver", "ivshmem-doorbell"}, {"chardev", "c0"}, {"vectors", "2"}, {"id", "ivs"}}, &dev);
  ASSERT_TRUE(st.ok()) << st.error().message();
  dev_ = dynamic_cast<IvshmemCommon*>(dev);
  ASSERT_TRUE(host->pump_until([&] { return host->vectors_of(1) == 2; }));
  ASSERT_TRUE(ivshmem::test::eventually([&] {
    main_loop().run_once(std::chrono::milliseconds(10));
    auto st = status();
    return st["setup-complete"] == true && st["peers"].size() == 1 && st["peers"][0]["vectors"] == 2;
  }));
  auto bound = [&] {
    std::vector<std::pair<uint64_t, uint64_t>> out;  // address, datamatch
    for (const auto& e : accel_->mmio_ioeventfds()->bound()) out.emplace_back(e.address, e.datamatch);
    std::sort(out.begin(), out.end());
    return out;
  };
  using Bound = std::vector<std::pair<uint64_t, uint64_t>>;
  EXPECT_EQ(bound(), Bound{});  // BAR0 not mapped yet

  cfg_write(pci::kBar0, static_cast<uint32_t>(kBar0), 4);
  cfg_write(pci::kCommand, pci::kCommandMemory, 2);
  // Peers 0 (host) and 1 (the device itself), vectors 0 and 1, at BAR0 + 12.
  EXPECT_EQ(bound(), (Bound{{kBar0 + 12, 0x00000}, {kBar0 + 12, 0x00001}, {kBar0 + 12, 0x10000},
                            {kBar0 + 12, 0x10001}}));
  EXPECT_EQ(status()["fast-paths"][0]["ioeventfd-peers"], 2);

  constexpr uint64_t kMoved = 0xe0100000;
  cfg_write(pci::kBar0, static_cast<uint32_t>(kMoved), 4);  // the guest moves BAR0
  EXPECT_EQ(bound(), (Bound{{kMoved + 12, 0x00000}, {kMoved + 12, 0x00001}, {kMoved + 12, 0x10000},
                            {kMoved + 12, 0x10001}}));

  host.reset();  // peer 0 leaves
  ASSERT_TRUE(ivshmem::test::eventually([&] {
    main_loop().run_once(std::chrono::milliseconds(10));
    return status()["peers"].empty();
  }));
  EXPECT_EQ(bound(), (Bound{{kMoved + 12, 0x10000}, {kMoved + 12, 0x10001}}));
  EXPECT_EQ(status()["fast-paths"][1]["ioeventfd-peers"], 1);

  cfg_write(pci::kCommand, 0, 2);  // memory decoding off: nothing to bind
  EXPECT_EQ(bound(), Bound{});
  cfg_write(pci::kCommand, pci::kCommandMemory, 2);
  EXPECT_EQ(bound().size(), 2u);
  {
    MachineLockGuard locked;
    dev_->unrealize();  // unplugged
    if (Bus* bus = dev_->parent_bus()) bus->unplug(*dev_);
    (void)dev_->parent()->remove_child(dev_->name());
    dev_ = nullptr;
  }
  EXPECT_EQ(bound(), Bound{});
}

}  // namespace
}  // namespace nahanni::test
