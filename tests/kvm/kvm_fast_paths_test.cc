// The accelerator's halves of the fast paths with hand-made guests: a region eventfd is bound
// in the kernel where its region is mapped and follows it when the region moves (the guest's
// matching write signals the eventfd and never reaches the device; other values do), and an
// MSI irqfd interrupts the guest, follows a route change, and once unbound leaves the signal in
// the eventfd for userspace.
#include <sys/eventfd.h>
#include <unistd.h>

#include "guest-entry.h"
#include "kvm-fixture.h"
#include "system/irqfd.h"
#include "system/machine-lock.h"

namespace nahanni::test {
namespace {

constexpr uint64_t kMailbox = 0x9000;  // [0]: MMIO base for the guest; [4]: "go again" flag

uint64_t read_eventfd(int fd) {
  uint64_t v = 0;
  return ::read(fd, &v, sizeof v) == sizeof v ? v : 0;
}

TEST_F(KvmTest, region_eventfd_is_signalled_by_the_kernel_and_follows_the_region) {
  create();
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_TRUE(efd);
  {
    MachineLockGuard locked;
    mmio_->add_eventfd({.offset = 12, .size = 4, .datamatch = 0x10002, .fd = efd.get()});
  }
  ASSERT_EQ(accel_->mmio_ioeventfds()->bound().size(), 1u);
  EXPECT_EQ(accel_->mmio_ioeventfds()->bound()[0].address, kTestMmio + 12);
  uint32_t base = kTestMmio;
  std::memcpy(ram() + kMailbox, &base, 4);
  poke(0x1000, {
                   0x8b, 0x1d, 0x00, 0x90, 0x00, 0x00,              // mov ebx, [0x9000]
                   0xc7, 0x43, 0x0c, 0x02, 0x00, 0x01, 0x00,        // mov dword [ebx+12], 0x10002 (matches)
                   0xc7, 0x43, 0x0c, 0x07, 0x00, 0x00, 0x00,        // mov dword [ebx+12], 7 (does not)
                   0x66, 0xba, 0x01, 0x05, 0xee,                    // out 0x501: round done
                   0x83, 0x3d, 0x04, 0x90, 0x00, 0x00, 0x00,        // wait: cmp dword [0x9004], 0
                   0x74, 0xf7,                                      // je wait
                   0xc7, 0x05, 0x04, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // mov dword [0x9004], 0
                   0xe9, 0xcf, 0xff, 0xff, 0xff,                    // jmp 0x1000
               });
  run(protected_mode_entry(ram(), 0x1000));
  ASSERT_TRUE(log.wait_for(kTestPort + 1));
  EXPECT_EQ(read_eventfd(efd.get()), 1u);
  auto w = log.wait_for(kTestMmio + 12, std::chrono::seconds(0));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 7u);  // only the non-matching write reached the region
  EXPECT_FALSE(log.wait_for(kTestMmio + 12, std::chrono::seconds(0)));

  // The "BAR" moves while the vCPU runs: the kernel binding follows.
  {
    MachineLockGuard locked;
    pc_->pci_bus().memory_window()->add_subregion(kTestMmio + 0x100000, mmio_.get());
  }
  ASSERT_EQ(accel_->mmio_ioeventfds()->bound().size(), 1u);
  EXPECT_EQ(accel_->mmio_ioeventfds()->bound()[0].address, kTestMmio + 0x100000 + 12);
  base = kTestMmio + 0x100000;
  std::memcpy(ram() + kMailbox, &base, 4);
  __atomic_store_n(reinterpret_cast<uint32_t*>(ram() + kMailbox + 4), 1u, __ATOMIC_SEQ_CST);
  ASSERT_TRUE(log.wait_for(kTestPort + 1));
  EXPECT_EQ(read_eventfd(efd.get()), 1u);
  w = log.wait_for(kTestMmio + 12, std::chrono::seconds(0));
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 7u);

  {
    MachineLockGuard locked;
    mmio_->del_eventfd({.offset = 12, .size = 4, .datamatch = 0x10002, .fd = efd.get()});
  }
  EXPECT_TRUE(accel_->mmio_ioeventfds()->bound().empty());
}

TEST_F(KvmTest, msi_irqfd_interrupts_the_guest_follows_its_route_and_releases_the_eventfd) {
  create();
  auto entry = protected_mode_entry(ram(), 0x1000);
  for (uint64_t vector : {0x40, 0x41}) {
    uint64_t handler = vector == 0x40 ? 0x1100 : 0x1200;
    uint64_t gate = handler | (0x08ull << 16) | (0x8eull << 40);
    std::memcpy(ram() + kIdtAddress + vector * 8, &gate, 8);
    // out 0x500 <- vector; LAPIC EOI; sti; jmp $ (never returns: the next one nests)
    poke(handler, {0x66, 0xba, 0x00, 0x05, 0xb0, static_cast<uint8_t>(vector), 0xee,
                   0xc7, 0x05, 0xb0, 0x00, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x00, 0xfb, 0xeb, 0xfe});
  }
  entry.idt_base = kIdtAddress;
  entry.idt_limit = 0x7ff;
  poke(0x1000, {
                   0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,  // LAPIC SVR = 0x1ff
                   0x66, 0xba, 0x01, 0x05, 0xee,                                // out 0x501: ready
                   0xfb,                                                        // sti
                   0xeb, 0xfe,                                                  // jmp $
               });
  run(entry);
  ASSERT_TRUE(log.wait_for(kTestPort + 1));

  IrqfdService* irqfds = accel_->irqfds();
  ASSERT_NE(irqfds, nullptr);
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  auto handle = irqfds->bind_msi_irqfd(efd.get(), 0xfee00000, 0x40);
  ASSERT_TRUE(handle) << handle.error().message();
  EXPECT_EQ(accel_->irq_routing()->bound_count(), 1u);
  uint64_t one = 1;
  ASSERT_EQ(::write(efd.get(), &one, 8), 8);
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x40u);

  ASSERT_TRUE(irqfds->update_msi_irqfd(*handle, 0xfee00000, 0x41).ok());  // the guest rewrote the entry
  ASSERT_EQ(::write(efd.get(), &one, 8), 8);
  w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x41u);

  irqfds->unbind_msi_irqfd(*handle);  // masked: the device takes the eventfd back
  EXPECT_EQ(accel_->irq_routing()->bound_count(), 0u);
  ASSERT_EQ(::write(efd.get(), &one, 8), 8);
  EXPECT_EQ(read_eventfd(efd.get()), 1u);  // still there for userspace: the kernel took nothing
}

}  // namespace
}  // namespace nahanni::test
