// libqtest's PCI helpers against the pc machine: discovery, BAR sizing and placement (a 32-bit
// and a 64-bit BAR), enabling, capability walk, and the ACPI unplug sequence, with ivshmem-plain.
#include <gtest/gtest.h>

#include "libqtest.h"
#include "pci.h"

namespace nahanni::qtest {
namespace {

constexpr uint16_t kRedHatVendor = 0x1af4, kIvshmemPlain = 0x1110;

const char* kArgs =
    "-machine pc -object memory-backend-memfd,id=mb1,size=1M,share=on "
    "-device ivshmem-plain,id=iv1,memdev=mb1,addr=6";

TEST(LibqtestPci, finds_the_device_and_maps_its_bars_like_libqos) {
  QTestState q(kArgs);
  PciBus bus(q);
  int seen = 0;
  bus.device_foreach(kRedHatVendor, kIvshmemPlain, [&](PciDevice d) {
    ++seen;
    EXPECT_EQ(d.slot(), 6);
  });
  EXPECT_EQ(seen, 1);
  auto dev = bus.find(kRedHatVendor, kIvshmemPlain);
  ASSERT_TRUE(dev);
  PciBar bar0 = dev->iomap(0);
  PciBar bar2 = dev->iomap(2);  // 64-bit, prefetchable: the upper dword is sized and written too
  EXPECT_EQ(bar0.addr, 0xE0000000u);
  EXPECT_EQ(bar0.size, 256u);
  EXPECT_FALSE(bar0.is_io);
  EXPECT_EQ(bar2.addr, 0xE0100000u);
  EXPECT_EQ(bar2.size, 1u << 20);
  EXPECT_EQ(dev->config_readl(0x1c), 0u);  // BAR2's upper dword holds 0
  dev->enable();
  EXPECT_EQ(dev->config_readw(pci::kCommand) & 7, 7);

  dev->bar_writel(bar2, 0x100, 0x11223344);
  EXPECT_EQ(dev->bar_readl(bar2, 0x100), 0x11223344u);
  EXPECT_EQ(q.readl(0xE0100100), 0x11223344u);
  dev->bar_writeq(bar2, 0x200, 0x0102030405060708ull);
  EXPECT_EQ(dev->bar_readq(bar2, 0x200), 0x0102030405060708ull);
  EXPECT_EQ(dev->find_capability(pci::kCapIdMsix), 0);  // ivshmem-plain has no MSI-X
  EXPECT_TRUE(q.quit().success());
}

TEST(LibqtestPci, acpi_unplug_removes_the_device) {
  QTestState q(kArgs);
  PciBus bus(q);
  ASSERT_TRUE(bus.find(kRedHatVendor, kIvshmemPlain));
  acpi_unplug(q, "iv1", 6);
  EXPECT_EQ(bus.device_at(6).vendor_id(), 0xffff);
  EXPECT_FALSE(bus.find(kRedHatVendor, kIvshmemPlain));
  EXPECT_TRUE(q.quit().success());
}

TEST(LibqtestPci, bump_allocator_aligns_and_refuses_overflow) {
  QTestState q("-machine none");
  PciBus bus(q);
  EXPECT_EQ(bus.alloc_mmio(0x100), 0xE0000000u);
  EXPECT_EQ(bus.alloc_mmio(0x1000), 0xE0001000u);
  EXPECT_EQ(bus.alloc_pio(0x20), 0xc000u);
  EXPECT_EQ(bus.alloc_pio(0x100), 0xc100u);
  EXPECT_THROW(bus.alloc_mmio(0x40000000), QTestError);
  EXPECT_THROW(bus.alloc_pio(0x10000), QTestError);
  EXPECT_TRUE(q.quit().success());
}

}  // namespace
}  // namespace nahanni::qtest
