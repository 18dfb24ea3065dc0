// How a KVM run ends, through the emulator with tiny PVH kernels made here: a guest write to
// isa-debug-exit ends the run with its status, and a triple fault is a guest reset, which with
// -no-reboot is a clean shutdown (exit status 0). Skips without /dev/kvm.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

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

TEST_F(KvmGuestExitTest, triple_fault_with_no_reboot_is_a_clean_shutdown) {
  // lidt [zero]; ud2: no IDT, so #UD becomes #DF and then a shutdown.
  write_kernel({0x0f, 0x01, 0x1d, 0x10, 0x00, 0x10, 0x00, 0x0f, 0x0b});
  auto r = qtest::run_emulator("-accel kvm -display none -no-reboot -kernel " + kernel_path());
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
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
