// How a KVM run ends, through the emulator with tiny PVH kernels made here: a guest write to
// isa-debug-exit ends the run with its status (with every spelling that selects KVM), a triple
// fault is a guest reset, which with -no-reboot is a clean shutdown (exit status 0), and an
// exit KVM cannot handle is one error line and status 1. Skips without /dev/kvm.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "../unit/hw/boot-test-images.h"
#include "libqtest.h"

namespace nahanni::test {
namespace {

class KvmGuestExitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) GTEST_SKIP() << "/dev/kvm cannot be opened: KVM tests skipped";
    ::close(fd);
    char tmpl[] = "/tmp/nahanni-kvm-exit-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    std::remove(kernel_path().c_str());
    ::rmdir(dir_.c_str());
  }
  std::string kernel_path() const { return dir_ + "/kernel.elf"; }
  // A 32-bit PVH kernel whose entry (0x100000, flat protected mode) runs `code`.
  void write_kernel(std::vector<uint8_t> code) {
    ElfSpec spec{.is64 = false, .segments = {{.paddr = 0x100000, .data = code, .memsz = 0x1000}},
                 .pvh_entry = 0x100000};
    std::vector<uint8_t> image = make_elf(spec);
    std::ofstream(kernel_path(), std::ios::binary).write(reinterpret_cast<const char*>(image.data()),
                                                          static_cast<std::streamsize>(image.size()));
  }
  std::string dir_;
};

TEST_F(KvmGuestExitTest, isa_debug_exit_ends_the_run_with_its_status) {
  write_kernel({0xb0, 0x10, 0xe6, 0xf4, 0xeb, 0xfe});  // mov al,0x10; out 0xf4,al; jmp $
  auto r = qtest::run_emulator("-accel kvm -display none -kernel " + kernel_path() +
                               " -device isa-debug-exit,iobase=0xf4,iosize=0x04");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status.code, (0x10 << 1) | 1) << r.err;
  EXPECT_EQ(r.err, "");
}

// Every spelling that selects KVM boots the same guest to its status.
TEST_F(KvmGuestExitTest, each_kvm_spelling_runs_the_guest_to_its_exit_status) {
  write_kernel({0xb0, 0x2a, 0xe6, 0xf4, 0xeb, 0xfe});  // mov al,0x2a; out 0xf4,al; jmp $
  const std::string rest = " -display none -kernel " + kernel_path() + " -device isa-debug-exit,iobase=0xf4,iosize=0x04";
  for (const char* spelling : {"-accel kvm", "-enable-kvm", "-machine pc,accel=kvm", "-machine pc -accel kvm"}) {
    auto r = qtest::run_emulator(spelling + rest);
    EXPECT_FALSE(r.timed_out) << spelling;
    EXPECT_EQ(r.status.code, (0x2a << 1) | 1) << spelling << ": " << r.err;
    EXPECT_EQ(r.err, "") << spelling;
  }
  // libvirt's list: "tcg" is not in nahanni, KVM runs the guest.
  auto r = qtest::run_emulator("-machine pc,accel=kvm:tcg" + rest);
  EXPECT_EQ(r.status.code, (0x2a << 1) | 1) << r.err;
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: invalid accelerator tcg\n"
            "nahanni-system-x86_64: falling back to kvm\n");
}

TEST_F(KvmGuestExitTest, triple_fault_with_no_reboot_is_a_clean_shutdown) {
  // lidt [zero]; ud2: no IDT, so #UD becomes #DF and then a shutdown.
  write_kernel({0x0f, 0x01, 0x1d, 0x10, 0x00, 0x10, 0x00, 0x0f, 0x0b});
  auto r = qtest::run_emulator("-accel kvm -display none -no-reboot -kernel " + kernel_path());
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

// Executing from MMIO is something KVM cannot emulate: KVM_EXIT_INTERNAL_ERROR (emulation
// failure) ends the run with one error line and status 1. (A failed entry, KVM_EXIT_FAIL_ENTRY,
// could not be provoked here: kvm_pvm runs even invalid segment states.)
TEST_F(KvmGuestExitTest, internal_error_ends_the_run_with_one_line_and_status_1) {
  write_kernel({0xb8, 0x00, 0x00, 0x00, 0xd0, 0xff, 0xe0});  // mov eax,0xd0000000; jmp eax (nothing there)
  auto r = qtest::run_emulator("-accel kvm -display none -kernel " + kernel_path());
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status.code, 1) << r.err;
  const std::string prefix = "nahanni-system-x86_64: kvm: vCPU 0: KVM_EXIT_INTERNAL_ERROR (suberror 1): rip=0xd0000000 ";
  EXPECT_EQ(r.err.substr(0, prefix.size()), prefix) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(" cs=0x10 cr0=0x11 cr3=0x0 cr4=0x0 efer=0x0\n"), std::string::npos) << r.err;  // the PVH entry's
}

TEST_F(KvmGuestExitTest, smp_2_runs_and_ends_cleanly) {
  // The BSP exits through isa-debug-exit; the second vCPU waits for INIT/SIPI all along.
  write_kernel({0xb0, 0x02, 0xe6, 0xf4, 0xeb, 0xfe});
  auto r = qtest::run_emulator("-accel kvm -smp 2 -display none -kernel " + kernel_path() +
                               " -device isa-debug-exit,iobase=0xf4,iosize=0x04");
  EXPECT_EQ(r.status.code, 5) << r.err;
  EXPECT_EQ(r.err, "");
}

}  // namespace
}  // namespace nahanni::test
