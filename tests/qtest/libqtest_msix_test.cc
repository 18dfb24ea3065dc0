// libqtest's MSI-X helpers end to end: two emulators with ivshmem-doorbell on one ivshmem-server.
// A doorbell to a masked vector must set the receiver's PBA pending bit (what QEMU's ivshmem-test
// polls for); an unmasked vector programmed with an MSI address reaches the qtest accelerator's
// MSI record.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include <fmt/format.h>

#include "libqtest.h"
#include "pci.h"

#ifndef IVSHMEM_SERVER_PATH
#define IVSHMEM_SERVER_PATH "ivshmem-server"
#endif

namespace nahanni::qtest {
namespace {

constexpr uint16_t kRedHatVendor = 0x1af4, kIvshmemDoorbell = 0x1111;
constexpr uint64_t kIvPosition = 0x08, kDoorbell = 0x0c;

// Polls `cond` (each poll is a round trip, so the emulator's event loop runs) up to a bound.
bool eventually(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return cond();
}

class IvshmemServer {
 public:
  IvshmemServer() : socket_(fmt::format("{}/qtest-msix-{}.sock", ::testing::TempDir(), getpid())) {
    ::unlink(socket_.c_str());
    child_ = ChildProcess::spawn(fmt::format("{} -F -S {} -l 1M -n 2", IVSHMEM_SERVER_PATH, socket_));
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    struct stat st;
    while (::stat(socket_.c_str(), &st) != 0) {
      if (child_.poll() || std::chrono::steady_clock::now() > deadline)
        throw QTestError("ivshmem-server did not start");
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  ~IvshmemServer() {
    child_.terminate(std::chrono::seconds(5));
    ::unlink(socket_.c_str());
  }
  std::string vm_args(int slot) const {
    return fmt::format("-machine pc -chardev socket,path={},id=ch0 -device ivshmem-doorbell,chardev=ch0,vectors=2,addr={}",
                       socket_, slot);
  }

 private:
  std::string socket_;
  ChildProcess child_;
};

TEST(LibqtestMsix, masked_vector_sets_pending_bit_and_unmasked_vector_delivers_msi) {
  IvshmemServer server;
  QTestState sender(server.vm_args(4));
  QTestState receiver(server.vm_args(4));
  PciBus sbus(sender), rbus(receiver);
  auto s = sbus.find(kRedHatVendor, kIvshmemDoorbell);
  auto r = rbus.find(kRedHatVendor, kIvshmemDoorbell);
  ASSERT_TRUE(s);
  ASSERT_TRUE(r);

  PciBar s_regs = s->iomap(0);
  s->enable();
  PciBar r_regs = r->iomap(0);
  r->msix_enable();  // maps the table's BAR, as libqos does
  r->enable();
  EXPECT_TRUE(r->msix_enabled());
  EXPECT_EQ(r->msix_table_size(), 2);
  EXPECT_TRUE(r->msix_masked(0));  // vectors start masked
  EXPECT_TRUE(r->msix_masked(1));
  EXPECT_FALSE(r->msix_pending(0));

  uint32_t peer = r->bar_readl(r_regs, kIvPosition);
  receiver.command("msi_clear");
  s->bar_writel(s_regs, kDoorbell, peer << 16 | 0);
  EXPECT_TRUE(eventually([&] { return r->msix_pending(0); }));
  EXPECT_EQ(receiver.msi_count(), 0u);  // masked: pending, not delivered

  r->msix_set_entry(1, 0xfee00000, 0x4041, false);
  EXPECT_FALSE(r->msix_masked(1));
  s->bar_writel(s_regs, kDoorbell, peer << 16 | 1);
  EXPECT_TRUE(eventually([&] { return receiver.msi_count() >= 1; }));
  EXPECT_EQ(receiver.command("msi_last"), "OK 0x00000000fee00000 0x00004041");
  EXPECT_FALSE(r->msix_pending(1));

  EXPECT_TRUE(sender.quit().success());
  EXPECT_TRUE(receiver.quit().success());
}

}  // namespace
}  // namespace nahanni::qtest
