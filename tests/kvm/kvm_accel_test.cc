// The KVM accelerator with hand-made guests: port I/O and MMIO exits reach devices in the three
// CPU modes, an MSI reaches the guest's handler, a triple fault ends the run, -smp 2 brings up a
// second vCPU through INIT/SIPI, stop/cont pause the vCPUs, and shutting down joins every vCPU
// thread with no fd left open.
#include <dirent.h>

#include <fstream>
#include <string>

#include "guest-entry.h"
#include "kvm-fixture.h"
#include "system/machine-lock.h"

namespace nahanni::test {
namespace {

// Threads of this process named as vCPU threads ("CPU N/KVM"); the kernel may add workers of
// its own to the process, so only these are counted.
size_t vcpu_thread_count() {
  size_t n = 0;
  if (DIR* d = ::opendir("/proc/self/task")) {
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] == '.') continue;
      std::ifstream comm(std::string("/proc/self/task/") + e->d_name + "/comm");
      std::string name;
      std::getline(comm, name);
      if (name.starts_with("CPU ") && name.ends_with("/KVM")) ++n;
    }
    ::closedir(d);
  }
  return n;
}

TEST_F(KvmTest, real_mode_port_write_reaches_the_device) {
  create();
  // mov dx,0x500; mov al,0x42; out dx,al; jmp $
  poke(0x1000, {0xba, 0x00, 0x05, 0xb0, 0x42, 0xee, 0xeb, 0xfe});
  run(real_mode_entry(0x1000));
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x42u);
  EXPECT_EQ(w->size, 1u);
}

TEST_F(KvmTest, protected_mode_port_read_returns_the_device_value) {
  create();
  // mov dx,0x500; in al,dx; mov dx,0x501; out dx,al; jmp $
  poke(0x1000, {0x66, 0xba, 0x00, 0x05, 0xec, 0x66, 0xba, 0x01, 0x05, 0xee, 0xeb, 0xfe});
  run(protected_mode_entry(ram(), 0x1000));
  auto w = log.wait_for(kTestPort + 1);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x5au);
}

TEST_F(KvmTest, long_mode_mmio_write_and_read) {
  create();
  poke(0x1000, {
                   0xb8, 0x00, 0x00, 0x00, 0xd0,              // mov eax, 0xd0000000
                   0xc7, 0x00, 0x78, 0x56, 0x34, 0x12,        // mov dword [rax], 0x12345678
                   0x8b, 0x58, 0x04,                          // mov ebx, [rax+4]
                   0x66, 0xba, 0x00, 0x05,                    // mov dx, 0x500
                   0x89, 0xd8,                                // mov eax, ebx
                   0xef,                                      // out dx, eax
                   0xeb, 0xfe,                                // jmp $
               });
  run(long_mode_entry(ram(), 0x1000));
  auto mmio = log.wait_for(kTestMmio);
  ASSERT_TRUE(mmio);
  EXPECT_EQ(mmio->value, 0x12345678u);
  EXPECT_EQ(mmio->size, 4u);
  auto port = log.wait_for(kTestPort);
  ASSERT_TRUE(port);
  EXPECT_EQ(port->value, 0xcafef00du);
  EXPECT_EQ(port->size, 4u);
}

TEST_F(KvmTest, guest_ram_is_a_memory_slot_shared_with_the_host) {
  create();
  // mov eax, [0x8000]; mov dx,0x500; out dx,eax; jmp $
  poke(0x1000, {0xa1, 0x00, 0x80, 0x00, 0x00, 0x66, 0xba, 0x00, 0x05, 0xef, 0xeb, 0xfe});
  uint32_t magic = 0x600dcafe;
  std::memcpy(ram() + 0x8000, &magic, 4);
  run(protected_mode_entry(ram(), 0x1000));
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, magic);
  // Only RAM exits as nothing: one slot covers all of it.
  auto slots = accel_->memory_slots()->slots();
  ASSERT_FALSE(slots.empty());
  EXPECT_EQ(slots.front().guest_address, 0u);
  EXPECT_EQ(slots.front().size, 64ull << 20);
  EXPECT_EQ(slots.front().host_address, reinterpret_cast<uint64_t>(ram()));
}

TEST_F(KvmTest, msi_reaches_the_guest_handler) {
  create();
  auto entry = protected_mode_entry(ram(), 0x1000);
  // IDT vector 0x40: 32-bit interrupt gate to 0x1100, selector 0x08.
  uint64_t gate = 0x1100 | (0x08ull << 16) | (0x8eull << 40);
  std::memcpy(ram() + kIdtAddress + 0x40 * 8, &gate, 8);
  entry.idt_base = kIdtAddress;
  entry.idt_limit = 0x7ff;
  poke(0x1000, {
                   0xc7, 0x05, 0xf0, 0x00, 0xe0, 0xfe, 0xff, 0x01, 0x00, 0x00,  // LAPIC SVR = 0x1ff (enable)
                   0x66, 0xba, 0x01, 0x05, 0xee,                                // out 0x501: ready
                   0xfb,                                                        // sti
                   0xeb, 0xfe,                                                  // jmp $
               });
  poke(0x1100, {0x66, 0xba, 0x00, 0x05, 0xb0, 0x40, 0xee, 0xeb, 0xfe});  // out 0x500 <- 0x40; jmp $
  run(entry);
  ASSERT_TRUE(log.wait_for(kTestPort + 1));
  accel_->deliver_msi(0xfee00000, 0x40);  // APIC 0, fixed, vector 0x40
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 0x40u);
}

TEST_F(KvmTest, triple_fault_requests_a_guest_reset_and_halts_the_vcpu) {
  create();
  auto entry = protected_mode_entry(ram(), 0x1000);
  entry.idt_limit = 0;  // every exception faults again: #UD, #DF, shutdown
  poke(0x1000, {0x0f, 0x0b});  // ud2
  run(entry);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (guest_resets == 0 && std::chrono::steady_clock::now() < deadline)
    main_loop().run_once(std::chrono::milliseconds(20));
  EXPECT_EQ(guest_resets, 1);
  // Halted until the reset: the vCPU does not loop on the shutdown.
  uint64_t exits = accel_->vcpus()[0]->exit_count();
  main_loop().run_once(std::chrono::milliseconds(100));
  EXPECT_EQ(accel_->vcpus()[0]->exit_count(), exits);
  EXPECT_EQ(guest_resets, 1);
}

TEST_F(KvmTest, reset_restarts_vcpu0_from_the_boot_entry) {
  create();
  // out 0x500 <- [0x8000]; inc dword [0x8000]; jmp $ : each run from the entry reports a count.
  poke(0x1000, {0xa1, 0x00, 0x80, 0x00, 0x00, 0x66, 0xba, 0x00, 0x05, 0xef, 0xff, 0x05, 0x00, 0x80, 0x00, 0x00,
                0xeb, 0xfe});
  run(protected_mode_entry(ram(), 0x1000));
  auto first = log.wait_for(kTestPort);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->value, 0u);
  accel_->reset();
  auto second = log.wait_for(kTestPort);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->value, 1u);
}

TEST_F(KvmTest, smp_2_second_vcpu_waits_for_sipi_then_runs) {
  create(2);
  // BSP (32-bit): ICR high = APIC 1; INIT; SIPI vector 0x08 (AP starts at 0x8000); jmp $
  poke(0x1000, {
                   0xc7, 0x05, 0x10, 0x03, 0xe0, 0xfe, 0x00, 0x00, 0x00, 0x01,  // [ICR hi] = 1 << 24
                   0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x00, 0x45, 0x00, 0x00,  // [ICR lo] = INIT, assert
                   0xc7, 0x05, 0x00, 0x03, 0xe0, 0xfe, 0x08, 0x46, 0x00, 0x00,  // [ICR lo] = SIPI 0x08
                   0xeb, 0xfe,
               });
  // AP (real mode at 0800:0000 = 0x8000): out 0x500 <- 2; jmp $
  poke(0x8000, {0xba, 0x00, 0x05, 0xb0, 0x02, 0xee, 0xeb, 0xfe});
  run(protected_mode_entry(ram(), 0x1000));
  ASSERT_EQ(accel_->vcpus().size(), 2u);
  auto w = log.wait_for(kTestPort);
  ASSERT_TRUE(w);
  EXPECT_EQ(w->value, 2u);
}

TEST_F(KvmTest, stop_parks_the_vcpus_and_start_resumes_them) {
  create();
  // loop: out 0x500 <- al; inc al; jmp loop
  poke(0x1000, {0x30, 0xc0, 0x66, 0xba, 0x00, 0x05, 0xee, 0xfe, 0xc0, 0xeb, 0xfb});
  run(protected_mode_entry(ram(), 0x1000));
  ASSERT_TRUE(log.wait_for(kTestPort));
  accel_->stop();
  uint64_t exits = accel_->vcpus()[0]->exit_count();
  main_loop().run_once(std::chrono::milliseconds(200));
  EXPECT_EQ(accel_->vcpus()[0]->exit_count(), exits);
  ASSERT_TRUE(accel_->start().ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (accel_->vcpus()[0]->exit_count() == exits && std::chrono::steady_clock::now() < deadline)
    main_loop().run_once(std::chrono::milliseconds(20));
  EXPECT_GT(accel_->vcpus()[0]->exit_count(), exits);
}

TEST_F(KvmTest, shutdown_joins_vcpu_threads_and_closes_every_fd) {
  size_t fds_before = open_fd_count();
  create(2);
  poke(0x1000, {0xeb, 0xfe});  // jmp $: busy in the guest when we quit
  run(protected_mode_entry(ram(), 0x1000));
  EXPECT_EQ(vcpu_thread_count(), 2u);
  accel_->stop();
  accel_->shutdown();
  EXPECT_EQ(vcpu_thread_count(), 0u);
  EXPECT_TRUE(accel_->vcpus().empty());
  EXPECT_EQ(accel_->vm_fd(), -1);
  TearDown();
  EXPECT_EQ(open_fd_count(), fds_before);
}

}  // namespace
}  // namespace nahanni::test
