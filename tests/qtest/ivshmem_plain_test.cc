// ivshmem-plain end to end (issue #4), driven over qtest as a guest driver would: the BAR0
// register file and its reset values, the revision-2 registers, PCI identity, BAR sizes and
// flags, memory shared with a host program and between two emulators, and a 16 GiB sparse
// region whose BAR2 the guest places above 4 GiB.
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "ivshmem_test_support.h"
#include "libqtest.h"
#include "pci.h"

namespace nahanni::qtest {
namespace {

using namespace ivtest;

constexpr int kSlot = 4;

std::string plain_args(const std::string& backend, const std::string& device_options = "") {
  return fmt::format("-machine pc {} -device ivshmem-plain,id=iv1,memdev=mb1,addr={}{}", backend, kSlot,
                     device_options);
}
const std::string kMemfd1M = "-object memory-backend-memfd,id=mb1,size=1M,share=on";

// A device mapped and enabled the way libqos does it: BAR0, then BAR2.
struct Mapped {
  explicit Mapped(QTestState& q) : bus(q), dev(bus.device_at(kSlot)) {
    bar0 = dev.iomap(0);
    bar2 = dev.iomap(2);
    dev.enable();
  }
  uint32_t reg(uint32_t off) { return dev.bar_readl(bar0, off); }
  void set_reg(uint32_t off, uint32_t v) { dev.bar_writel(bar0, off, v); }
  PciBus bus;
  PciDevice dev;
  PciBar bar0, bar2;
};

TEST(IvshmemPlain, registers_reset_to_zero_and_behave_as_specified) {
  QTestState q(plain_args(kMemfd1M));
  Mapped m(q);
  EXPECT_EQ(m.bar0.size, 256u);
  EXPECT_EQ(m.bar2.size, 1u << 20);
  EXPECT_EQ(m.reg(kIntrMask), 0u);
  EXPECT_EQ(m.reg(kIntrStatus), 0u);
  EXPECT_EQ(m.reg(kIvPosition), 0u);

  m.set_reg(kIntrMask, 0xffffffff);
  EXPECT_EQ(m.reg(kIntrMask), 0xffffffffu);
  m.set_reg(kIntrMask, 0);
  EXPECT_EQ(m.reg(kIntrMask), 0u);

  m.set_reg(kIntrStatus, 1);
  EXPECT_EQ(m.reg(kIntrStatus), 1u);
  EXPECT_EQ(m.reg(kIntrStatus), 0u);  // reading cleared it

  m.set_reg(kIvPosition, 0x1234);  // read-only
  EXPECT_EQ(m.reg(kIvPosition), 0u);
  EXPECT_EQ(m.reg(kDoorbell), 0u);  // write-only
  m.set_reg(kDoorbell, 8u << 16);   // no doorbell: ignored
  EXPECT_EQ(m.reg(kDoorbell), 0u);
  EXPECT_EQ(m.reg(kIntrStatus), 0u);
  EXPECT_EQ(q.msi_count(), 0u);

  // Revision 2: no doorbell, no name, setup complete (there is nothing to set up).
  EXPECT_EQ(m.reg(kFeatures), 0u);
  EXPECT_EQ(m.reg(kState), 1u);
  EXPECT_EQ(m.reg(kPeerCount), 0u);
  EXPECT_EQ(m.reg(kOwnVectors), 0u);
  EXPECT_EQ(m.reg(kRungVectors), 0u);
  m.set_reg(kPeerSelect, 0x10007);
  EXPECT_EQ(m.reg(kPeerSelect), 7u);  // bits 15..0
  EXPECT_EQ(m.reg(kPeerVectors), 0u);
  EXPECT_EQ(m.reg(kNameLength), 0u);
  for (uint32_t off = kName; off < kName + 64; off += 4) EXPECT_EQ(m.reg(off), 0u) << "Name+" << off - kName;
  for (uint32_t off : {0x30u, 0x3cu, 0x80u, 0xfcu}) {
    m.set_reg(off, 0xdeadbeef);  // reserved: reads 0, writes ignored
    EXPECT_EQ(m.reg(off), 0u) << "offset " << off;
  }
  m.set_reg(kFeatures, 0xff);
  m.set_reg(kState, 0);
  EXPECT_EQ(m.reg(kFeatures), 0u);
  EXPECT_EQ(m.reg(kState), 1u);

  // A system reset restores the reset values.
  m.set_reg(kIntrMask, 0x55);
  m.set_reg(kIntrStatus, 1);
  EXPECT_TRUE(q.qmp(R"({"execute": "system_reset"})").contains("return"));
  q.qmp_eventwait("RESET");
  Mapped again(q);
  EXPECT_EQ(again.reg(kIntrMask), 0u);
  EXPECT_EQ(again.reg(kIntrStatus), 0u);
  EXPECT_EQ(again.reg(kPeerSelect), 0u);
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemPlain, name_is_readable_from_bar0) {
  QTestState q(plain_args(kMemfd1M, ",name=frame-relay"));
  Mapped m(q);
  EXPECT_EQ(m.reg(kFeatures), 1u << 2);
  EXPECT_EQ(m.reg(kNameLength), 11u);
  std::string name;
  for (uint32_t off = kName; off < kName + 64; off += 4) {
    uint32_t v = m.reg(off);
    for (int i = 0; i < 4; ++i) name.push_back(static_cast<char>(v >> (8 * i)));
  }
  EXPECT_EQ(name, std::string("frame-relay") + std::string(64 - 11, '\0'));
  EXPECT_EQ(m.dev.bar_readb(m.bar0, kName + 6), 'r');  // narrower reads work too
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemPlain, pci_identity) {
  QTestState q(plain_args(kMemfd1M));
  PciBus bus(q);
  PciDevice dev = bus.device_at(kSlot);
  EXPECT_EQ(dev.vendor_id(), kVendor);
  EXPECT_EQ(dev.device_id(), kDevice);
  EXPECT_EQ(dev.config_readw(kCfgSubVendor), 0x1af4);
  EXPECT_EQ(dev.config_readw(kCfgSubId), 0x1100);
  EXPECT_EQ(dev.config_readw(kCfgClass), 0x0500);
  EXPECT_EQ(dev.config_readb(kCfgProgIf), 0);
  EXPECT_EQ(dev.config_readb(kCfgRevision), 2);
  EXPECT_EQ(dev.config_readb(kCfgHeaderType), 0);
  EXPECT_EQ(dev.config_readb(kCfgIntPin), 0);
  EXPECT_EQ(dev.config_readw(pci::kStatus) & pci::kStatusCapList, 0);
  EXPECT_EQ(dev.find_capability(pci::kCapIdMsix), 0);
  EXPECT_EQ(dev.config_readl(cfg_bar(1)), 0u);  // no MSI-X BAR
  EXPECT_TRUE(q.quit().success());
}

// Writes all ones to a BAR register and returns what reads back (then restores it).
uint32_t size_probe(PciDevice& dev, int bar) {
  uint32_t old = dev.config_readl(cfg_bar(bar));
  dev.config_writel(cfg_bar(bar), 0xffffffff);
  uint32_t v = dev.config_readl(cfg_bar(bar));
  dev.config_writel(cfg_bar(bar), old);
  return v;
}

TEST(IvshmemPlain, bars_have_the_specified_sizes_and_flags) {
  QTestState q(plain_args("-object memory-backend-memfd,id=mb1,size=4M,share=on"));
  PciBus bus(q);
  PciDevice dev = bus.device_at(kSlot);
  EXPECT_EQ(dev.config_readl(cfg_bar(0)) & 0xf, 0u);  // memory, 32-bit, not prefetchable
  EXPECT_EQ(size_probe(dev, 0), 0xffffff00u);          // 256 bytes
  EXPECT_EQ(dev.config_readl(cfg_bar(2)) & 0xf, 0xcu);  // memory, 64-bit, prefetchable
  EXPECT_EQ(size_probe(dev, 2), 0xffc0000cu);           // 4 MiB
  EXPECT_EQ(size_probe(dev, 3), 0xffffffffu);           // upper dword: all address bits
  for (int unused : {1, 4, 5}) EXPECT_EQ(size_probe(dev, unused), 0u) << "BAR" << unused;
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemPlain, use64_off_gives_a_32_bit_prefetchable_bar2) {
  QTestState q(plain_args("-object memory-backend-memfd,id=mb1,size=4M,share=on", ",use64=off"));
  PciBus bus(q);
  PciDevice dev = bus.device_at(kSlot);
  EXPECT_EQ(dev.config_readl(cfg_bar(2)) & 0xf, 0x8u);
  EXPECT_EQ(size_probe(dev, 2), 0xffc00008u);
  EXPECT_EQ(size_probe(dev, 3), 0u);  // no upper dword: BAR3 is unimplemented
  PciBar bar2 = dev.iomap(2);
  dev.enable();
  EXPECT_EQ(bar2.size, 4u << 20);
  dev.bar_writel(bar2, (4u << 20) - 4, 0xa5a5f00d);
  EXPECT_EQ(dev.bar_readl(bar2, (4u << 20) - 4), 0xa5a5f00du);
  EXPECT_TRUE(q.quit().success());
}

TEST(IvshmemPlain, bar2_shares_memory_with_a_host_program) {
  ShmFile shm(unique_name("nahanni-ivplain"), 1u << 20);
  {
    QTestState q(plain_args(fmt::format("-object memory-backend-file,id=mb1,size=1M,share=on,mem-path={}",
                                        shm.path())));
    Mapped m(q);
    ASSERT_EQ(m.bar2.size, 1u << 20);
    // Guest to host: 4 KiB through BAR2, seen in the host's mapping.
    std::vector<uint8_t> data(4096);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 7 + 3);
    q.memwrite(m.bar2.addr + 0x1000, data);
    for (size_t i = 0; i < data.size(); ++i) ASSERT_EQ(shm.host()[0x1000 + i], data[i]) << "byte " << i;
    EXPECT_EQ(q.memread(m.bar2.addr + 0x1000, data.size()), data);
    // Host to guest, including the last byte of the region.
    shm.host()[0] = 0x42;
    shm.host()[(1u << 20) - 1] = 0x99;
    EXPECT_EQ(m.dev.bar_readb(m.bar2, 0), 0x42);
    EXPECT_EQ(m.dev.bar_readb(m.bar2, (1u << 20) - 1), 0x99);
    m.dev.bar_writel(m.bar2, 0x80000, 0x01020304);
    EXPECT_EQ(shm.host()[0x80000], 0x04);
    EXPECT_EQ(shm.host()[0x80003], 0x01);
    EXPECT_TRUE(q.quit().success());
  }
  // The emulator leaves the file as it was: present (the host owns it) with the data.
  EXPECT_EQ(shm.host()[0x80000], 0x04);
}

TEST(IvshmemPlain, two_emulators_and_the_host_share_one_file) {
  ShmFile shm(unique_name("nahanni-ivplain"), 1u << 20);
  std::string args =
      plain_args(fmt::format("-object memory-backend-file,id=mb1,size=1M,share=on,mem-path={}", shm.path()));
  QTestState q1(args), q2(args);
  Mapped m1(q1), m2(q2);
  ASSERT_EQ(m1.bar2.size, 1u << 20);
  ASSERT_EQ(m2.bar2.size, 1u << 20);

  std::memset(const_cast<uint8_t*>(shm.host()), 0x42, 1u << 20);
  for (uint64_t off : {uint64_t{0}, uint64_t{0x7ffff}, uint64_t{0xfffff}}) {
    EXPECT_EQ(m1.dev.bar_readb(m1.bar2, off), 0x42);
    EXPECT_EQ(m2.dev.bar_readb(m2.bar2, off), 0x42);
  }
  q1.memset(m1.bar2.addr, 1u << 20, 0x43);
  for (uint64_t off : {uint64_t{0}, uint64_t{0x7ffff}, uint64_t{0xfffff}}) EXPECT_EQ(m2.dev.bar_readb(m2.bar2, off), 0x43);
  EXPECT_EQ(shm.host()[0x1234], 0x43);
  q2.memset(m2.bar2.addr, 1u << 20, 0x44);
  for (uint64_t off : {uint64_t{0}, uint64_t{0x7ffff}, uint64_t{0xfffff}}) EXPECT_EQ(m1.dev.bar_readb(m1.bar2, off), 0x44);
  EXPECT_EQ(shm.host()[0xfffff], 0x44);
  EXPECT_TRUE(q1.quit().success());
  EXPECT_TRUE(q2.quit().success());
}

TEST(IvshmemPlain, a_private_backend_works_with_a_warning) {
  // QEMU accepts share=off silently (its own tests use memory-backend-ram); nahanni warns.
  QTestState q(plain_args("-object memory-backend-ram,id=mb1,size=1M"));
  Mapped m(q);
  EXPECT_EQ(m.bar2.size, 1u << 20);
  m.dev.bar_writel(m.bar2, 0x10, 0x12345678);
  EXPECT_EQ(m.dev.bar_readl(m.bar2, 0x10), 0x12345678u);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err, fmt::format("nahanni-system-x86_64: -device ivshmem-plain,id=iv1,memdev=mb1,addr={}: warning: "
                             "memdev 'mb1' has share=off: the guest's memory is private to this process and shared "
                             "with nobody; use share=on\n",
                             kSlot));
}

// "A plain device with a 16 GiB sparse memfd gets its BAR2 placed above 4 GiB."
TEST(IvshmemPlain, sixteen_gib_region_is_placed_above_4g) {
  constexpr uint64_t kSize = 16ull << 30, kAddr = 64ull << 30;  // aligned to its size
  QTestState q(plain_args("-object memory-backend-memfd,id=mb1,size=16G,share=on"));
  PciBus bus(q);
  PciDevice dev = bus.device_at(kSlot);
  PciBar bar0 = dev.iomap(0);
  EXPECT_EQ(bar0.size, 256u);
  EXPECT_EQ(dev.config_readl(cfg_bar(2)) & 0xf, 0xcu);
  EXPECT_EQ(size_probe(dev, 2), 0x0000000cu);  // low dword: every address bit is size
  EXPECT_EQ(size_probe(dev, 3), 0xfffffffcu);  // 16 GiB = 2^34
  dev.config_writel(cfg_bar(2), static_cast<uint32_t>(kAddr) | 0xc);
  dev.config_writel(cfg_bar(3), static_cast<uint32_t>(kAddr >> 32));
  EXPECT_EQ(dev.config_readl(cfg_bar(2)), 0x0000000cu);
  EXPECT_EQ(dev.config_readl(cfg_bar(3)), 0x10u);
  dev.enable();

  EXPECT_EQ(dev.bar_readl(bar0, kState), 1u);  // BAR0 still answers below 4 GiB
  for (uint64_t off : {uint64_t{0}, uint64_t{0xfffff000}, uint64_t{0x100000000}, uint64_t{0x2badc0de8}, kSize - 8}) {
    q.writeq(kAddr + off, 0x1122334455667788ull ^ off);
    EXPECT_EQ(q.readq(kAddr + off), 0x1122334455667788ull ^ off) << "offset " << off;
  }
  EXPECT_EQ(q.readl(kAddr + kSize - 4), static_cast<uint32_t>((0x1122334455667788ull ^ (kSize - 8)) >> 32));
  EXPECT_EQ(q.readq(kAddr + 0x10), 0u);  // untouched sparse memory reads zero
  EXPECT_TRUE(q.quit().success());
}

}  // namespace
}  // namespace nahanni::qtest
