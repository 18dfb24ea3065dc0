// The KVM accelerator's command-line errors, as the emulator prints them: no firmware without a
// boot entry, /dev/kvm missing or forbidden (simulated with NAHANNI_KVM_DEVICE, test-only),
// -smp 0 and too many CPUs; and -smp under qtest being accepted.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "libqtest.h"

namespace nahanni::test {
namespace {

using qtest::run_emulator;

// The emulator with an environment variable set.
qtest::RunResult run_with_env(const std::string& assignment, const std::string& args) {
  return qtest::run_command("env " + assignment + " " + qtest::emulator_binary() + " " + args);
}

bool kvm_usable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

TEST(KvmCli, accel_kvm_without_a_kernel_fails_naming_the_missing_firmware) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened: this error needs a working KVM";
  auto r = run_emulator("-accel kvm -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: -accel kvm: nahanni has no firmware: boot a kernel with -kernel (a PVH ELF or "
            "a Linux bzImage)\n");
}

TEST(KvmCli, missing_kvm_device_reports_as_qemu_does) {
  auto r = run_with_env("NAHANNI_KVM_DEVICE=/nonexistent/kvm", "-accel kvm");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "Could not access KVM kernel module: No such file or directory\n"
            "nahanni-system-x86_64: -accel kvm: failed to initialize kvm: No such file or directory\n");
  r = run_with_env("NAHANNI_KVM_DEVICE=/nonexistent/kvm", "-enable-kvm");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "Could not access KVM kernel module: No such file or directory\n"
            "nahanni-system-x86_64: failed to initialize kvm: No such file or directory\n");
  r = run_with_env("NAHANNI_KVM_DEVICE=/nonexistent/kvm", "-machine pc,accel=kvm");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "Could not access KVM kernel module: No such file or directory\n"
            "nahanni-system-x86_64: failed to initialize kvm: No such file or directory\n");
}

TEST(KvmCli, a_device_that_is_not_kvm_fails_initialisation) {
  // /dev/null opens but answers no KVM ioctl.
  auto r = run_with_env("NAHANNI_KVM_DEVICE=/dev/null", "-accel kvm");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err.rfind("nahanni-system-x86_64: -accel kvm: failed to initialize kvm: ", 0), 0u) << r.err;
}

TEST(KvmCli, smp_zero_and_too_many_cpus_are_rejected) {
  auto r = run_emulator("-accel kvm -smp 0");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: -smp 0: Invalid CPU topology: CPU topology parameters must be greater than "
            "zero\n");
  r = run_emulator("-accel kvm -smp cpus=0");
  EXPECT_EQ(r.status.code, 1);
  r = run_emulator("-accel kvm -smp 256");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: -smp 256: Invalid SMP CPUs 256. The max CPUs supported by machine "
            "'pc-i440fx-7.2' is 255\n");
  r = run_emulator("-smp two");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -smp two: Parameter 'smp.cpus' expects integer\n");
}

TEST(KvmCli, smp_under_qtest_is_recorded_for_fw_cfg) {
  qtest::QTestState qts("-smp 4");
  // fw_cfg entry 0x05 (FW_CFG_NB_CPUS): select, then read two bytes.
  qts.outw(0x510, 0x05);
  uint16_t lo = qts.inb(0x511), hi = qts.inb(0x511);
  EXPECT_EQ(lo | (hi << 8), 4);
}

}  // namespace
}  // namespace nahanni::test
