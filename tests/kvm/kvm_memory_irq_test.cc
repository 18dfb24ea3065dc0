// Guest memory and legacy interrupts under KVM with hand-made guests: a RAM region mapped in
// the PCI window (as an ivshmem BAR2 is) becomes a memory slot and follows the region when it
// moves under a running vCPU; a real ivshmem-plain's BAR2 does the same where the guest, and
// then the test, program it through config space; an IOAPIC input raised by a device reaches
// the guest through the in-kernel IOAPIC (KVM_IRQ_LINE).
#include <sys/mman.h>

#include "backends/hostmem.h"
#include "guest-entry.h"
#include "hw/core/qdev-monitor.h"
#include "hw/i386/ioapic.h"
#include "hw/pci/pci-device.h"
#include "hw/pci/pci-regs.h"
#include "kvm-fixture.h"
#include "qom/user-creatable.h"
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

// A pc machine with `-object memory-backend-memfd,id=m,size=1M -device ivshmem-plain,memdev=m`.
class KvmPlainBarTest : public KvmTest {
 protected:
  void add_plain_device() {
    OptionList backend;
    backend.items = {{"qom-type", OptionValue::from_text("memory-backend-memfd")},
                     {"id", OptionValue::from_text("m")},
                     {"size", OptionValue::from_text("1M")}};
    auto obj = user_creatable_add(std::move(backend), OptionSource::CommandLine);
    ASSERT_TRUE(obj.ok()) << obj.error().message();
    backend_ = dynamic_cast<HostMemoryBackend*>(*obj);
    ASSERT_NE(backend_, nullptr);
    OptionList device;
    device.items = {{"driver", OptionValue::from_text("ivshmem-plain")},
                    {"memdev", OptionValue::from_text("m")},
                    {"id", OptionValue::from_text("iv")}};
    auto dev = device_add(std::move(device), OptionSource::CommandLine, false);
    ASSERT_TRUE(dev.ok()) << dev.error().message();
    dev_ = dynamic_cast<PciDevice*>(*dev);
    ASSERT_NE(dev_, nullptr);
  }
  void TearDown() override {
    remove_device(dev_);
    KvmTest::TearDown();
    object_root().remove_child("objects");
  }
  void cfg_write(uint32_t offset, uint32_t value, unsigned len) {
    MachineLockGuard locked;
    pc_->pci_bus().config_write(dev_->devfn(), offset, value, len);
  }
  // Configuration mechanism #1 address of one of the device's registers.
  uint32_t cf8(uint8_t reg) const { return 0x80000000u | (static_cast<uint32_t>(dev_->devfn()) << 8) | reg; }
  bool bar2_slot_at(uint64_t gpa) const {
    MachineLockGuard locked;
    for (const auto& s : accel_->memory_slots()->slots())
      if (s.guest_address == gpa && s.size == (1u << 20) && s.host_address == reinterpret_cast<uint64_t>(backend_->host()))
        return true;
    return false;
  }
  bool any_bar2_slot() const {
    MachineLockGuard locked;
    for (const auto& s : accel_->memory_slots()->slots())
      if (s.host_address == reinterpret_cast<uint64_t>(backend_->host())) return true;
    return false;
  }
  void share(uint32_t word) { __atomic_store_n(reinterpret_cast<uint32_t*>(backend_->host()), word, __ATOMIC_SEQ_CST); }

  HostMemoryBackend* backend_ = nullptr;
  PciDevice* dev_ = nullptr;
};

constexpr uint64_t kReadAddress = 0x9000, kGo = 0x9008, kConfigWrites = 0x9100;

TEST_F(KvmPlainBarTest, ivshmem_plain_bar2_is_a_slot_that_follows_the_bar_the_guest_and_the_test_move) {
  create();
  ASSERT_NO_FATAL_FAILURE(add_plain_device());
  constexpr uint64_t kFirst = 0xd0200000, kGuestMoved = 0x800000000ull, kTestMoved = 0xd0400000;
  EXPECT_FALSE(any_bar2_slot());  // unassigned BAR, decoding off
  share(0x5eedf00d);

  // The guest (long mode, the first 4 GiB identity-mapped, and 32 GiB + 2 MiB too) waits for
  // kGo, does the config-space writes listed at kConfigWrites (address for 0xcf8, value for
  // 0xcfc; 0 ends), reads the 32-bit word at [kReadAddress], writes it to port 0x500, and waits
  // again.
  auto entry = long_mode_entry(ram(), 0x100f);  // starts at "wait"
  uint64_t pd_32g = kPml4Address + 0x6000;
  uint64_t pdpt_entry = pd_32g | 3, pd_entry = kGuestMoved | 0x83;
  std::memcpy(ram() + kPml4Address + 0x1000 + 32 * 8, &pdpt_entry, 8);
  std::memset(ram() + pd_32g, 0, 0x1000);
  std::memcpy(ram() + pd_32g, &pd_entry, 8);
  poke(0x1000, {
                   0x48, 0x8b, 0x1c, 0x25, 0x00, 0x90, 0x00, 0x00,              // start: mov rbx, [0x9000]
                   0x8b, 0x03,                                                  // mov eax, [rbx]
                   0x66, 0xba, 0x00, 0x05, 0xef,                                // out 0x500, eax
                   0xf3, 0x90,                                                  // wait: pause
                   0x8b, 0x0c, 0x25, 0x08, 0x90, 0x00, 0x00,                    // mov ecx, [0x9008]
                   0x85, 0xc9, 0x74, 0xf3,                                      // test ecx, ecx; jz wait
                   0xc7, 0x04, 0x25, 0x08, 0x90, 0x00, 0x00, 0, 0, 0, 0,        // mov dword [0x9008], 0
                   0xbe, 0x00, 0x91, 0x00, 0x00,                                // mov esi, 0x9100
                   0xad, 0x85, 0xc0, 0x74, 0xcf,                                // cfg: lodsd; test eax, eax; jz start
                   0x66, 0xba, 0xf8, 0x0c, 0xef,                                // out 0xcf8, eax
                   0xad, 0x66, 0xba, 0xfc, 0x0c, 0xef,                          // lodsd; out 0xcfc, eax
                   0xeb, 0xee,                                                  // jmp cfg
               });
  auto set_mailbox = [&](uint64_t address, std::vector<uint32_t> writes) {
    writes.push_back(0);
    std::memcpy(ram() + kConfigWrites, writes.data(), writes.size() * 4);
    std::memcpy(ram() + kReadAddress, &address, 8);
    __atomic_store_n(reinterpret_cast<uint32_t*>(ram() + kGo), 1u, __ATOMIC_SEQ_CST);
  };
  // As firmware would: BAR2 (64-bit) at kFirst, memory decoding on.
  set_mailbox(kFirst, {cf8(pci::kBar0 + 8), static_cast<uint32_t>(kFirst), cf8(pci::kBar0 + 12), 0,
                       cf8(pci::kCommand), pci::kCommandMemory});
  run(entry);
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x5eedf00du);
  EXPECT_TRUE(bar2_slot_at(kFirst));

  // The guest moves BAR2 above 4 GiB: decoding off, the new address, decoding on.
  share(0xfeedbeef);
  set_mailbox(kGuestMoved, {cf8(pci::kCommand), 0, cf8(pci::kBar0 + 8), static_cast<uint32_t>(kGuestMoved),
                            cf8(pci::kBar0 + 12), static_cast<uint32_t>(kGuestMoved >> 32), cf8(pci::kCommand),
                            pci::kCommandMemory});
  w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0xfeedbeefu);  // the same shared memory, read at the new address
  EXPECT_TRUE(bar2_slot_at(kGuestMoved));
  EXPECT_FALSE(bar2_slot_at(kFirst));

  // The test moves it back below 4 GiB; with decoding off there is no slot at all.
  cfg_write(pci::kCommand, 0, 2);
  EXPECT_FALSE(any_bar2_slot());
  cfg_write(pci::kBar0 + 8, static_cast<uint32_t>(kTestMoved), 4);
  cfg_write(pci::kBar0 + 12, 0, 4);
  EXPECT_FALSE(any_bar2_slot());
  cfg_write(pci::kCommand, pci::kCommandMemory, 2);
  EXPECT_TRUE(bar2_slot_at(kTestMoved));
  EXPECT_FALSE(bar2_slot_at(kGuestMoved));
  share(0x0ddba11);
  set_mailbox(kTestMoved, {});
  w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x0ddba11u);
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
