// Hotplug of the ivshmem devices on the pc machine (issue #4): device_add, device_del and the
// ACPI eject, repeated, with the emulator's open descriptors back where they started after
// every cycle; replugging the same memory backend (QEMU 7.2 aborts); a doorbell device unplugged
// and at once replaced (QEMU 7.2 can crash); the DEVICE_DELETED event; a second device_del
// before the eject; object-del of a backend in use.
#include <gtest/gtest.h>

#include <string>

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
  }
  acpi_unplug(q, "ivd4", kSlot);
  EXPECT_EQ(q.qmp(R"({"execute": "chardev-remove", "arguments": {"id": "c4"}})"), (json{{"return", json::object()}}));
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
