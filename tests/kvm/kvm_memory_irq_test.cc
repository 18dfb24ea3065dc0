// Guest memory and legacy interrupts under KVM with hand-made guests: a RAM region mapped in
// the PCI window (as an ivshmem BAR2 is) becomes a memory slot and follows the region when it
// moves under a running vCPU; an IOAPIC input raised by a device reaches the guest through the
// in-kernel IOAPIC (KVM_IRQ_LINE).
#include <sys/mman.h>

#include "guest-entry.h"
#include "hw/i386/ioapic.h"
#include "kvm-fixture.h"
#include "system/machine-lock.h"

namespace nahanni::test {
namespace {

constexpr uint64_t kMailbox = 0x9000;  // [0]: address to read; [4]: "go again" flag

TEST_F(KvmTest, ram_bar_is_a_memory_slot_that_follows_the_bar) {
  create();
  constexpr size_t kSize = 2 << 20;
  void* host = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(host, MAP_FAILED);
  uint32_t magic = 0x5eedf00d;
  std::memcpy(host, &magic, 4);
  auto bar2 = MemoryRegion::ram("test.bar2", kSize, static_cast<uint8_t*>(host));
  constexpr uint64_t kFirst = 0xd0200000, kSecond = 0xd0400000;
  {
    MachineLockGuard locked;
    pc_->pci_bus().memory_window()->add_subregion(kFirst, bar2.get());
  }
  uint32_t address = kFirst;
  std::memcpy(ram() + kMailbox, &address, 4);
  poke(0x1000, {
                   0x8b, 0x1d, 0x00, 0x90, 0x00, 0x00,                          // mov ebx, [0x9000]
                   0x8b, 0x03,                                                  // mov eax, [ebx]
                   0x66, 0xba, 0x00, 0x05, 0xef,                                // out 0x500, eax
                   0x83, 0x3d, 0x04, 0x90, 0x00, 0x00, 0x00,                    // wait: cmp dword [0x9004], 0
                   0x74, 0xf7,                                                  // je wait
                   0xc7, 0x05, 0x04, 0x90, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // mov dword [0x9004], 0
                   0xe9, 0xdb, 0xff, 0xff, 0xff,                                // jmp 0x1000
               });
  run(protected_mode_entry(ram(), 0x1000));
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, magic);
  auto has_slot_at = [&](uint64_t gpa) {
    for (const auto& s : accel_->memory_slots()->slots())
      if (s.guest_address == gpa && s.size == kSize && s.host_address == reinterpret_cast<uint64_t>(host)) return true;
    return false;
  };
  EXPECT_TRUE(has_slot_at(kFirst));

  {
    MachineLockGuard locked;
    pc_->pci_bus().memory_window()->add_subregion(kSecond, bar2.get());  // the guest moved the BAR
  }
  EXPECT_FALSE(has_slot_at(kFirst));
  EXPECT_TRUE(has_slot_at(kSecond));
  magic = 0xfeedbeef;
  std::memcpy(host, &magic, 4);
  address = kSecond;
  std::memcpy(ram() + kMailbox, &address, 4);
  __atomic_store_n(reinterpret_cast<uint32_t*>(ram() + kMailbox + 4), 1u, __ATOMIC_SEQ_CST);
  w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, magic);  // the same host memory, seen at the new address

  accel_->stop();
  {
    MachineLockGuard locked;
    bar2.reset();  // unmapped and gone
  }
  EXPECT_FALSE(has_slot_at(kSecond));
  ::munmap(host, kSize);
}

TEST_F(KvmTest, ioapic_input_reaches_the_guest_through_the_in_kernel_ioapic) {
  create();
  auto entry = protected_mode_entry(ram(), 0x1000);
  uint64_t gate = 0x1100 | (0x08ull << 16) | (0x8eull << 40);
  std::memcpy(ram() + kIdtAddress + 0x42 * 8, &gate, 8);
  entry.idt_base = kIdtAddress;
  entry.idt_limit = 0x7ff;
  poke(0x1000, {
                   0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,  // LAPIC SVR = 0x1ff
                   0xc7, 0x05, 0x00, 0x00, 0xc0, 0xfe, 0x30, 0x00, 0x00, 0x00,  // IOREGSEL = redirection 16, low
                   0xc7, 0x05, 0x10, 0x00, 0xc0, 0xfe, 0x42, 0x00, 0x00, 0x00,  // IOWIN = vector 0x42, fixed, edge
                   0xc7, 0x05, 0x00, 0x00, 0xc0, 0xfe, 0x31, 0x00, 0x00, 0x00,  // IOREGSEL = redirection 16, high
                   0xc7, 0x05, 0x10, 0x00, 0xc0, 0xfe, 0x00, 0x00, 0x00, 0x00,  // IOWIN = APIC 0
                   0x66, 0xba, 0x01, 0x05, 0xee,                                // out 0x501: ready
                   0xfb, 0xeb, 0xfe,                                            // sti; jmp $
               });
  poke(0x1100, {0x66, 0xba, 0x00, 0x05, 0xb0, 0x42, 0xee, 0xeb, 0xfe});  // out 0x500 <- 0x42; jmp $
  run(entry);
  ASSERT_TRUE(log.wait_for(kTestPort + 1));
  {
    MachineLockGuard locked;
    pc_->ioapic().set_irq(16, 1);  // PCI INTA of some slot
  }
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x42u);
  MachineLockGuard locked;
  pc_->ioapic().set_irq(16, 0);
}

}  // namespace
}  // namespace nahanni::test
