// Debian's QEMU (7.2) and our emulator as two ivshmem-doorbell peers on our ivshmem-server,
// ringing each other on every vector. QEMU runs paused under TCG with a qtest socket (Debian
// builds it without the qtest accelerator), as in ivshmem_qemu_test.cc; its side is observed
// through its registers and its MSI-X PBA over that socket, ours through libqtest.
// Exits 77 (meson: skipped) when qemu-system-x86_64 is not installed.
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdio>

#include "../contrib/test-support.h"
#include "qemu-qtest.h"
#include "libqtest.h"
#include "pci.h"

namespace nahanni::ivshmem::test {
namespace {

std::string qemu_binary() { return binary("QEMU", ""); }


constexpr unsigned kVectors = 4;
constexpr unsigned kSlot = 4;
constexpr uint32_t kIvPosition = 0x08, kDoorbell = 0x0c, kState = 0x14, kPeerSelect = 0x18, kPeerVectors = 0x1c,
                   kRungVectors = 0x20;
// Where the test places QEMU's BARs, and the guest RAM its MSI-X entries point at.
constexpr uint64_t kQemuBar0 = 0xfe000000, kQemuBar1 = 0xfe001000, kQemuBar2 = 0xe0000000;
constexpr uint64_t kMsiRam = 0x200000;

TEST(IvshmemDoorbellInterop, qemu_and_nahanni_ring_each_other_on_every_vector) {
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  std::string sock = dir.file("ivshmem"), qtest_sock = dir.file("qtest");
  auto server = start_server(dir, sock, {"-l", "1M", "-n", std::to_string(kVectors)});
  ASSERT_TRUE(server);

  // Peer 0: our emulator, MSI-X on with every entry masked.
  qtest::QTestState ours(fmt::format(
      "-machine pc -chardev socket,id=c0,path={} -device ivshmem-doorbell,id=iv0,chardev=c0,vectors={},addr={}", sock,
      kVectors, kSlot));
  qtest::PciBus bus(ours);
  qtest::PciDevice dev = bus.device_at(kSlot);
  qtest::PciBar bar0 = dev.iomap(0);
  dev.msix_enable();
  qtest::PciBar bar2 = dev.iomap(2);
  dev.enable();
  ASSERT_EQ(dev.bar_readl(bar0, kIvPosition), 0u);

  // Peer 1: QEMU.
  auto qtest_listener = unix_listen(qtest_sock);
  ASSERT_TRUE(qtest_listener.ok());
  Subprocess qemu({qemu_binary(), "-accel", "tcg", "-S", "-qtest", "unix:" + qtest_sock, "-nodefaults", "-display",
                   "none", "-machine", "pc", "-chardev", "socket,path=" + sock + ",id=c", "-device",
                   fmt::format("ivshmem-doorbell,chardev=c,vectors={},addr={}", kVectors, kSlot)},
                  dir);
  pollfd p{qtest_listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1) << qemu.err();
  QemuQtest qt(UniqueFd(::accept4(qtest_listener->get(), nullptr, nullptr, SOCK_CLOEXEC)));

  ASSERT_EQ(qt.config_read(kSlot, 0), 0x11101af4u);  // QEMU's ivshmem
  ASSERT_TRUE(qt.config_write(kSlot, 0x10, static_cast<uint32_t>(kQemuBar0)));
  ASSERT_TRUE(qt.config_write(kSlot, 0x14, static_cast<uint32_t>(kQemuBar1)));
  ASSERT_TRUE(qt.config_write(kSlot, 0x18, static_cast<uint32_t>(kQemuBar2)));
  ASSERT_TRUE(qt.config_write(kSlot, 0x1c, 0));
  ASSERT_TRUE(qt.config_write(kSlot, 0x04, 0x6));  // memory space and bus master
  // MSI-X: the first capability; its control word is the dword's upper half.
  auto cap = qt.config_read(kSlot, 0x34);
  ASSERT_TRUE(cap);
  auto header = qt.config_read(kSlot, static_cast<unsigned>(*cap & 0xfc));
  ASSERT_TRUE(header);
  ASSERT_EQ(*header & 0xff, 0x11u);
  EXPECT_EQ((*header >> 16) & 0x7ff, kVectors - 1);
  ASSERT_TRUE(qt.config_write(kSlot, static_cast<unsigned>(*cap & 0xfc), static_cast<uint32_t>(*header) | 0x80000000u));
  auto qemu_pba = [&] { return qt.readl(kQemuBar1 + 0x800).value_or(0xdead); };
  EXPECT_EQ(qemu_pba(), 0u);

  EXPECT_EQ(qt.readl(kQemuBar0 + kIvPosition), 1u);
  // Both see the same memory.
  dev.bar_writel(bar2, 0x40, 0x0badcafe);
  EXPECT_EQ(qt.readl(kQemuBar2 + 0x40), 0x0badcafeu);

  // We have QEMU's eventfds (it sends them while it sets up).
  dev.bar_writel(bar0, kPeerSelect, 1);
  ASSERT_TRUE(eventually([&] { return dev.bar_readl(bar0, kPeerVectors) == kVectors; }));
  ASSERT_TRUE(eventually([&] { return dev.bar_readl(bar0, kState) == 3; }));

  auto our_pending = [&] {
    uint32_t m = 0;
    for (unsigned v = 0; v < kVectors; ++v)
      if (dev.msix_pending(static_cast<int>(v))) m |= 1u << v;
    return m;
  };

  for (unsigned v = 0; v < kVectors; ++v) {
    SCOPED_TRACE(fmt::format("vector {}", v));
    uint32_t data = 0x5eed0000u | v;
    uint64_t target = kMsiRam + 4 * v;

    // We ring QEMU: exactly its pending bit appears; unmasking delivers into its RAM.
    dev.bar_writel(bar0, kDoorbell, 1u << 16 | v);
    ASSERT_TRUE(eventually([&] { return qemu_pba() != 0; })) << qemu.err();
    EXPECT_EQ(qemu_pba(), 1u << v);
    uint64_t entry = kQemuBar1 + 16 * v;
    ASSERT_TRUE(qt.writel(entry + 0, static_cast<uint32_t>(target)));
    ASSERT_TRUE(qt.writel(entry + 4, 0));
    ASSERT_TRUE(qt.writel(entry + 8, data));
    ASSERT_TRUE(qt.writel(entry + 12, 0));  // unmask
    EXPECT_EQ(qt.readl(target), data);
    EXPECT_EQ(qemu_pba(), 0u);
    ASSERT_TRUE(qt.writel(entry + 12, 1));  // mask again

    // QEMU rings us: exactly our pending bit appears; unmasking delivers into our RAM.
    ASSERT_TRUE(qt.writel(kQemuBar0 + kDoorbell, 0u << 16 | v));
    ASSERT_TRUE(eventually([&] { return our_pending() != 0; }));
    EXPECT_EQ(our_pending(), 1u << v);
    EXPECT_EQ(dev.bar_readl(bar0, kRungVectors), 1u << v);
    dev.msix_set_entry(static_cast<int>(v), target, data, false);
    EXPECT_EQ(ours.readl(target), data);
    EXPECT_EQ(our_pending(), 0u);
    dev.msix_set_entry(static_cast<int>(v), 0, 0, true);
  }

  nlohmann::json st = ours.qmp(R"({"execute": "qom-get",
      "arguments": {"path": "/machine/peripheral/iv0", "property": "status"}})")["return"];
  std::vector<uint64_t> once(kVectors, 1);
  EXPECT_EQ(st["doorbells-sent"].get<std::vector<uint64_t>>(), once);
  EXPECT_EQ(st["doorbells-received"].get<std::vector<uint64_t>>(), once);
  EXPECT_EQ(st["dropped-eventfds"], 0);

  // QEMU leaves: we see it go and keep running.
  qemu.signal(SIGTERM);
  EXPECT_EQ(qemu.wait(), 0) << qemu.err();
  ASSERT_TRUE(eventually([&] { return dev.bar_readl(bar0, kPeerVectors) == 0; }));
  EXPECT_TRUE(ours.quit().success()) << ours.stderr_text();
}

}  // namespace
}  // namespace nahanni::ivshmem::test

int main(int argc, char** argv) {
  std::string qemu = nahanni::ivshmem::test::qemu_binary();
  if (qemu.empty() || ::access(qemu.c_str(), X_OK) != 0) {
    std::printf("SKIP: qemu-system-x86_64 is not installed (Debian: apt install qemu-system-x86)\n");
    return 77;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
