// Hotplug of the ivshmem devices on the pc machine (issue #4): device_add, device_del and the
// ACPI eject, repeated, with the emulator's open descriptors back where they started after
// every cycle; replugging the same memory backend (QEMU 7.2 aborts); a doorbell device unplugged
// and at once replaced (QEMU 7.2 can crash); the DEVICE_DELETED event; a second device_del
// before the eject; object-del of a backend in use.
#include <gtest/gtest.h>

#include <string>

#include "ivshmem_idle.h"
#include "ivshmem_test_support.h"
#include "libqtest.h"
#include "pci.h"

namespace nahanni::qtest {
namespace {

using namespace ivtest;
using nlohmann::json;

constexpr int kSlot = 6;
constexpr uint16_t kAcpiPciEject = 0xae08;

json device_add_plain(QTestState& q, const std::string& id, const std::string& memdev) {
  return q.qmp(json{{"execute", "device_add"},
                    {"arguments", {{"driver", "ivshmem-plain"}, {"id", id}, {"memdev", memdev}, {"addr", "6"}}}});
}

// A plugged device answers on its slot, its BAR2 reaches the backend's memory: writes `pattern`
// at 0x40 and returns what was there before.
uint32_t expect_plain_works(QTestState& q, uint32_t pattern) {
  PciBus bus(q);
  PciDevice dev = bus.device_at(kSlot);
  EXPECT_EQ(dev.vendor_id(), kVendor);
  EXPECT_EQ(dev.device_id(), kDevice);
  PciBar bar2 = dev.iomap(2);
  dev.enable();
  EXPECT_EQ(bar2.size, 1u << 20);
  uint32_t before = dev.bar_readl(bar2, 0x40);
  dev.bar_writel(bar2, 0x40, pattern);
  EXPECT_EQ(dev.bar_readl(bar2, 0x40), pattern);
  return before;
}

TEST(IvshmemHotplug, plain_cycles_on_the_same_memdev_leak_nothing) {
  QTestState q("-machine pc -object memory-backend-memfd,id=mb1,size=1M,share=on");
  for (uint32_t cycle = 0; cycle < 5; ++cycle) {
    SCOPED_TRACE(fmt::format("cycle {}", cycle));
    int fds = open_fd_count(q.pid());
    ASSERT_EQ(device_add_plain(q, "iv1", "mb1"), (json{{"return", json::object()}}));
    // The backend kept what the previous device wrote (the same memory, not a copy).
    EXPECT_EQ(expect_plain_works(q, 0x1000 + cycle), cycle == 0 ? 0u : 0x1000 + cycle - 1);
    acpi_unplug(q, "iv1", kSlot);
    EXPECT_EQ(PciBus(q).device_at(kSlot).vendor_id(), 0xffff);
    EXPECT_EQ(open_fd_count(q.pid()), fds);
  }
  EXPECT_TRUE(stays_idle(q.pid()));
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemHotplug, device_deleted_names_the_device_and_its_path) {
  QTestState q("-machine pc -object memory-backend-memfd,id=mb1,size=1M,share=on");
  ASSERT_EQ(device_add_plain(q, "iv1", "mb1"), (json{{"return", json::object()}}));
  EXPECT_EQ(q.qmp(R"({"execute": "device_del", "arguments": {"id": "iv1"}})"), (json{{"return", json::object()}}));
  // Until the guest ejects, a second request is refused.
  EXPECT_EQ(q.qmp(R"({"execute": "device_del", "arguments": {"id": "iv1"}})"),
            (json{{"error", {{"class", "GenericError"}, {"desc", "Device iv1 is already in the process of unplug"}}}}));
  q.outl(kAcpiPciEject, 1u << kSlot);
  json event = q.qmp_eventwait("DEVICE_DELETED");
  EXPECT_EQ(event["data"], (json{{"device", "iv1"}, {"path", "/machine/peripheral/iv1"}}));
  EXPECT_EQ(q.qmp(R"({"execute": "device_del", "arguments": {"id": "iv1"}})"),
            (json{{"error", {{"class", "DeviceNotFound"}, {"desc", "Device 'iv1' not found"}}}}));
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemHotplug, a_backend_in_use_cannot_be_deleted_until_unplug) {
  QTestState q("-machine pc -object memory-backend-memfd,id=mb1,size=1M,share=on");
  ASSERT_EQ(device_add_plain(q, "iv1", "mb1"), (json{{"return", json::object()}}));
  EXPECT_EQ(q.qmp(R"({"execute": "object-del", "arguments": {"id": "mb1"}})"),
            (json{{"error", {{"class", "GenericError"}, {"desc", "object 'mb1' is in use, can not be deleted"}}}}));
  // A second device on the busy backend is refused, and the first keeps working.
  json second = q.qmp(json{{"execute", "device_add"},
                           {"arguments", {{"driver", "ivshmem-plain"}, {"id", "iv2"}, {"memdev", "mb1"}, {"addr", "7"}}}});
  EXPECT_EQ(second, (json{{"error", {{"class", "GenericError"}, {"desc", "can't use already busy memdev: mb1"}}}}));
  expect_plain_works(q, 0xabcd);
  acpi_unplug(q, "iv1", kSlot);
  EXPECT_EQ(q.qmp(R"({"execute": "object-del", "arguments": {"id": "mb1"}})"), (json{{"return", json::object()}}));
  EXPECT_EQ(device_add_plain(q, "iv1", "mb1"),
            (json{{"error", {{"class", "DeviceNotFound"}, {"desc", "Device 'mb1' not found"}}}}));
  // A backend added over QMP serves a new device.
  EXPECT_EQ(q.qmp(R"({"execute": "object-add", "arguments": {"qom-type": "memory-backend-memfd", "id": "mb2",
                                                             "size": 1048576, "share": true}})"),
            (json{{"return", json::object()}}));
  ASSERT_EQ(device_add_plain(q, "iv1", "mb2"), (json{{"return", json::object()}}));
  expect_plain_works(q, 0x5555);
  acpi_unplug(q, "iv1", kSlot);
  EXPECT_EQ(q.qmp(R"({"execute": "object-del", "arguments": {"id": "mb2"}})"), (json{{"return", json::object()}}));
  EXPECT_TRUE(q.quit().success());
}

json chardev_add(QTestState& q, const std::string& id, const std::string& path) {
  json addr = {{"type", "unix"}, {"data", {{"path", path}}}};
  json backend = {{"type", "socket"}, {"data", {{"addr", addr}, {"server", false}}}};
  return q.qmp(json{{"execute", "chardev-add"}, {"arguments", {{"id", id}, {"backend", backend}}}});
}

json device_add_doorbell(QTestState& q, const std::string& id, const std::string& chardev) {
  return q.qmp(json{{"execute", "device_add"},
                    {"arguments",
                     {{"driver", "ivshmem-doorbell"}, {"id", id}, {"chardev", chardev}, {"vectors", 2}, {"addr", "6"}}}});
}

TEST(IvshmemHotplug, doorbell_unplug_followed_at_once_by_a_new_plug_leaks_nothing) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivhot");
  Server server(dir, 2);
  ASSERT_TRUE(server.up()) << server.log();
  QTestState q("-machine pc");
  int fds = open_fd_count(q.pid());
  ASSERT_EQ(chardev_add(q, "c0", server.socket()), (json{{"return", json::object()}}));
  ASSERT_EQ(device_add_doorbell(q, "ivd0", "c0"), (json{{"return", json::object()}}));
  int plugged_fds = -1;  // one device and its chardev, after the first cycle
  for (int cycle = 1; cycle <= 4; ++cycle) {
    SCOPED_TRACE(fmt::format("cycle {}", cycle));
    std::string old_id = fmt::format("ivd{}", cycle - 1), old_chr = fmt::format("c{}", cycle - 1);
    std::string id = fmt::format("ivd{}", cycle), chr = fmt::format("c{}", cycle);
    // The next chardev connects first, so the unplug and the plug follow each other directly.
    ASSERT_EQ(chardev_add(q, chr, server.socket()), (json{{"return", json::object()}}));
    acpi_unplug(q, old_id, kSlot);
    ASSERT_EQ(device_add_doorbell(q, id, chr), (json{{"return", json::object()}}));
    EXPECT_EQ(q.qmp(json{{"execute", "chardev-remove"}, {"arguments", {{"id", old_chr}}}}),
              (json{{"return", json::object()}}));

    PciBus bus(q);
    PciDevice dev = bus.device_at(kSlot);
    ASSERT_EQ(dev.vendor_id(), kVendor);
    ASSERT_EQ(dev.device_id(), 0x1111);
    PciBar bar0 = dev.iomap(0);
    PciBar bar2 = dev.iomap(2);
    dev.enable();
    EXPECT_EQ(bar2.size, 1u << 20);
    EXPECT_EQ(dev.bar_readl(bar0, kState) & 1, 1u);  // setup complete
    EXPECT_EQ(dev.bar_readl(bar0, kOwnVectors), 2u);
    // The device rings itself: its own vectors are in the peer table too.
    uint32_t own = dev.bar_readl(bar0, kIvPosition);
    dev.bar_writel(bar0, kDoorbell, own << 16 | 1);
    EXPECT_TRUE(eventually([&] { return dev.bar_readl(bar0, kRungVectors) == 2u; }));
    // The new device heard of the old one and of its departure: it holds no peer, and the
    // emulator holds exactly what it held after the first cycle.
    EXPECT_TRUE(eventually([&] { return dev.bar_readl(bar0, kPeerCount) == 0u; }));
    if (plugged_fds < 0) plugged_fds = open_fd_count(q.pid());
    EXPECT_EQ(open_fd_count(q.pid()), plugged_fds);
  }
  EXPECT_TRUE(stays_idle(q.pid()));
  acpi_unplug(q, "ivd4", kSlot);
  EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "c4"}})"), (json{{"return", json::object()}}));
  EXPECT_EQ(open_fd_count(q.pid()), fds);
  EXPECT_TRUE(q.quit().success());
}

json device_add_doorbell_at(QTestState& q, const std::string& id, const std::string& chardev, int slot) {
  return q.qmp(json{{"execute", "device_add"},
                    {"arguments", {{"driver", "ivshmem-doorbell"}, {"id", id}, {"chardev", chardev}, {"vectors", 2},
                                   {"addr", std::to_string(slot)}}}});
}

// device_del only asks the guest to eject; until it does, the old device is still there, owning
// its slot and its chardev. A device_add right after it (QEMU 7.2 can crash here) is refused on
// that chardev and that slot with QEMU's messages, and works on a new chardev to the same server
// in another slot: both devices then run side by side as two peers until the eject.
TEST(IvshmemHotplug, doorbell_plug_before_the_old_one_is_ejected_is_refused_on_its_chardev_and_works_beside_it) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivhot");
  Server server(dir, 2);
  ASSERT_TRUE(server.up()) << server.log();
  QTestState q("-machine pc");
  int fds = open_fd_count(q.pid());
  ASSERT_EQ(chardev_add(q, "c0", server.socket()), (json{{"return", json::object()}}));
  ASSERT_EQ(device_add_doorbell_at(q, "ivd0", "c0", 6), (json{{"return", json::object()}}));
  int plugged_fds = -1;
  for (int cycle = 1; cycle <= 3; ++cycle) {
    SCOPED_TRACE(fmt::format("cycle {}", cycle));
    std::string old_id = fmt::format("ivd{}", cycle - 1), old_chr = fmt::format("c{}", cycle - 1);
    std::string id = fmt::format("ivd{}", cycle), chr = fmt::format("c{}", cycle);
    int old_slot = cycle % 2 == 1 ? 6 : 7, slot = cycle % 2 == 1 ? 7 : 6;
    ASSERT_EQ(q.qmp(json{{"execute", "device_del"}, {"arguments", {{"id", old_id}}}}), (json{{"return", json::object()}}));
    // No DEVICE_DELETED yet: the old device still owns its chardev and its slot.
    EXPECT_EQ(device_add_doorbell_at(q, id, old_chr, slot),
              (json{{"error", {{"class", "GenericError"}, {"desc", fmt::format("Chardev '{}' is busy", old_chr)}}}}));
    ASSERT_EQ(chardev_add(q, chr, server.socket()), (json{{"return", json::object()}}));
    EXPECT_EQ(device_add_doorbell_at(q, id, chr, old_slot),
              (json{{"error", {{"class", "GenericError"},
                               {"desc", fmt::format("PCI: slot {} function 0 not available for ivshmem-doorbell, in use "
                                                    "by ivshmem-doorbell,id={}",
                                                    old_slot, old_id)}}}}));
    EXPECT_EQ(q.qmp(json{{"execute", "chardev-remove"}, {"arguments", {{"id", old_chr}}}}),
              (json{{"error", {{"class", "GenericError"}, {"desc", fmt::format("Chardev '{}' is busy", old_chr)}}}}));
    ASSERT_EQ(device_add_doorbell_at(q, id, chr, slot), (json{{"return", json::object()}}));
    for (const json& e : q.take_events()) EXPECT_NE(e["event"], "DEVICE_DELETED") << e.dump();  // not yet

    PciBus bus(q);
    PciDevice dev = bus.device_at(slot);
    ASSERT_EQ(dev.device_id(), 0x1111);
    PciBar bar0 = dev.iomap(0);
    dev.enable();
    EXPECT_EQ(dev.bar_readl(bar0, kState), 3u);  // set up and connected
    EXPECT_TRUE(eventually([&] { return dev.bar_readl(bar0, kPeerCount) == 1u; }));  // the old one, still there

    q.outl(kAcpiPciEject, 1u << old_slot);
    json deleted = q.qmp_eventwait("DEVICE_DELETED");
    EXPECT_EQ(deleted["data"]["device"], old_id);
    EXPECT_EQ(q.qmp(json{{"execute", "chardev-remove"}, {"arguments", {{"id", old_chr}}}}),
              (json{{"return", json::object()}}));
    EXPECT_EQ(PciBus(q).device_at(old_slot).vendor_id(), 0xffff);
    // The server announced the old device's departure; the new one rings itself as before.
    EXPECT_TRUE(eventually([&] { return dev.bar_readl(bar0, kPeerCount) == 0u; }));
    uint32_t own = dev.bar_readl(bar0, kIvPosition);
    dev.bar_writel(bar0, kDoorbell, own << 16 | 1);
    EXPECT_TRUE(eventually([&] { return dev.bar_readl(bar0, kRungVectors) == 2u; }));
    if (plugged_fds < 0) plugged_fds = open_fd_count(q.pid());
    EXPECT_EQ(open_fd_count(q.pid()), plugged_fds);
  }
  EXPECT_TRUE(stays_idle(q.pid()));
  acpi_unplug(q, "ivd3", 7);
  EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "c3"}})"), (json{{"return", json::object()}}));
  EXPECT_EQ(open_fd_count(q.pid()), fds);
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemHotplug, doorbell_cycles_return_to_the_same_fd_count) {
  if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
  TempDir dir("nn-ivhot");
  Server server(dir, 1);
  ASSERT_TRUE(server.up()) << server.log();
  QTestState q("-machine pc");
  for (int cycle = 0; cycle < 3; ++cycle) {
    SCOPED_TRACE(fmt::format("cycle {}", cycle));
    int fds = open_fd_count(q.pid());
    ASSERT_EQ(chardev_add(q, "c", server.socket()), (json{{"return", json::object()}}));
    ASSERT_EQ(q.qmp(json{{"execute", "device_add"},
                         {"arguments", {{"driver", "ivshmem-doorbell"}, {"id", "ivd"}, {"chardev", "c"}, {"addr", "6"}}}}),
              (json{{"return", json::object()}}));
    EXPECT_EQ(PciBus(q).device_at(kSlot).device_id(), 0x1111);
    acpi_unplug(q, "ivd", kSlot);
    EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "c"}})"), (json{{"return", json::object()}}));
    EXPECT_EQ(open_fd_count(q.pid()), fds);
  }
  EXPECT_TRUE(q.quit().success());
}

}  // namespace
}  // namespace nahanni::qtest
