// The KVM accelerator's command line, as the emulator prints it: no firmware without a boot
// entry, /dev/kvm missing or forbidden (simulated with NAHANNI_KVM_DEVICE, test-only), QEMU's
// accelerator lists (-machine accel=A:B, repeated -accel) with their messages, kernel-irqchip,
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

// QMP commands on stdin, then quit: the emulator runs to completion and answers on stdout.
qtest::RunResult run_with_qmp(const std::string& env, const std::string& args) {
  char path[] = "/tmp/nn-kvm-cli-qmp-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return {};
  const std::string commands =
      "{\"execute\":\"qmp_capabilities\"}\n{\"execute\":\"query-kvm\"}\n{\"execute\":\"quit\"}\n";
  bool written = ::write(fd, commands.data(), commands.size()) == static_cast<ssize_t>(commands.size());
  ::close(fd);
  qtest::RunResult r;
  if (written)
    r = qtest::run_command((env.empty() ? "" : "env " + env + " ") + qtest::emulator_binary() + " " + args +
                           " -S -display none -qmp stdio < " + path);
  ::unlink(path);
  return r;
}

constexpr std::string_view kKvmEnabled = R"("return": {"enabled": true, "present": true})";
constexpr std::string_view kKvmDisabled = R"("return": {"enabled": false, "present": true})";
constexpr std::string_view kNoKvm = "NAHANNI_KVM_DEVICE=/nonexistent/kvm";
constexpr std::string_view kNoKvmLines =
    "Could not access KVM kernel module: No such file or directory\n"
    "nahanni-system-x86_64: failed to initialize kvm: No such file or directory\n";

// libvirt's probe spelling. nahanni has no TCG, so "tcg" is an invalid accelerator, as in a
// QEMU built without it: reported, then KVM (tried first anyway) is what runs.
TEST(KvmCli, accel_list_kvm_tcg_runs_on_kvm_when_it_works) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened: this case needs a working KVM";
  auto r = run_with_qmp("", "-machine none,accel=kvm:tcg");
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: invalid accelerator tcg\n"
            "nahanni-system-x86_64: falling back to kvm\n");
  EXPECT_NE(r.out.find(kKvmEnabled), std::string::npos) << r.out;
}

TEST(KvmCli, accel_list_skips_an_unknown_name_and_falls_back_to_the_next) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened: this case needs a working KVM";
  auto r = run_with_qmp("", "-machine none,accel=foo:kvm");
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: invalid accelerator foo\n"
            "nahanni-system-x86_64: falling back to kvm\n");
  EXPECT_NE(r.out.find(kKvmEnabled), std::string::npos) << r.out;
  // Repeated -accel options are tried in order too, each failure naming its option.
  r = run_with_qmp("", "-machine none -accel foo -accel kvm");
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: -accel foo: invalid accelerator foo\n"
            "nahanni-system-x86_64: falling back to kvm\n");
  EXPECT_NE(r.out.find(kKvmEnabled), std::string::npos) << r.out;
}

TEST(KvmCli, accel_list_falls_back_past_a_kvm_that_fails) {
  auto r = run_with_qmp(std::string(kNoKvm), "-machine none,accel=kvm:qtest");
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err, std::string(kNoKvmLines) + "nahanni-system-x86_64: falling back to qtest\n");
  EXPECT_NE(r.out.find(kKvmDisabled), std::string::npos) << r.out;
  r = run_with_qmp(std::string(kNoKvm), "-machine none -accel kvm -accel qtest");
  EXPECT_EQ(r.status.code, 0) << r.err;
  EXPECT_EQ(r.err,
            "Could not access KVM kernel module: No such file or directory\n"
            "nahanni-system-x86_64: -accel kvm: failed to initialize kvm: No such file or directory\n"
            "nahanni-system-x86_64: falling back to qtest\n");
}

TEST(KvmCli, accel_tcg_alone_is_an_invalid_accelerator) {
  auto r = run_emulator("-machine none,accel=tcg -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: invalid accelerator tcg\n");
  r = run_emulator("-accel tcg -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -accel tcg: invalid accelerator tcg\n");
}

TEST(KvmCli, no_working_accelerator_ends_the_start_with_every_reason) {
  auto r = run_with_env(std::string(kNoKvm), "-machine none,accel=kvm:tcg -display none");
  EXPECT_EQ(r.status.code, 1);
  // QEMU reports the names it lacks before trying the others.
  EXPECT_EQ(r.err, "nahanni-system-x86_64: invalid accelerator tcg\n" + std::string(kNoKvmLines));
  r = run_emulator("-machine none,accel=foo:bar -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: invalid accelerator foo\n"
            "nahanni-system-x86_64: invalid accelerator bar\n");
  // Nothing was tried, nothing reported: QEMU's catch-all.
  r = run_emulator("-machine none,accel= -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: no accelerator found\n");
}

TEST(KvmCli, accel_option_and_machine_accel_are_incompatible) {
  for (const char* args : {"-accel kvm -machine none,accel=kvm", "-enable-kvm -accel kvm"}) {
    auto r = run_emulator(std::string(args) + " -display none");
    EXPECT_EQ(r.status.code, 1) << args;
    EXPECT_EQ(r.err, "nahanni-system-x86_64: The -accel and \"-machine accel=\" options are incompatible\n") << args;
  }
}

TEST(KvmCli, accel_properties_are_checked_as_qemu_does) {
  auto r = run_emulator("-accel kvm,thread=single -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -accel kvm,thread=single: Property 'kvm-accel.thread' not found\n");
  r = run_emulator("-accel kvm,kernel-irqchip=yes -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: -accel kvm,kernel-irqchip=yes: Parameter 'kernel-irqchip' does not accept value "
            "'yes'\n");
  r = run_emulator("-machine none,accel=kvm,kernel-irqchip=foo -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: can't apply global kvm-accel.kernel-irqchip=foo: Parameter 'kernel-irqchip' does "
            "not accept value 'foo'\n");
}

// The design has the in-kernel irqchip only: "on" is what always happens, "off" and "split" are
// refused rather than ignored.
TEST(KvmCli, kernel_irqchip_on_is_accepted_off_and_split_are_refused) {
  const std::string refused = " is not supported: nahanni's KVM accelerator always uses the in-kernel irqchip "
                              "(PIC, IOAPIC and local APICs)\n";
  auto r = run_emulator("-accel kvm,kernel-irqchip=off -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -accel kvm,kernel-irqchip=off: kernel-irqchip=off" + refused);
  r = run_emulator("-machine pc,accel=kvm,kernel-irqchip=split -display none");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: kernel-irqchip=split" + refused);
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened: kernel-irqchip=on needs a working KVM";
  for (const char* args : {"-machine none -accel kvm,kernel-irqchip=on", "-machine none,accel=kvm,kernel-irqchip=on"}) {
    r = run_with_qmp("", args);
    EXPECT_EQ(r.status.code, 0) << args << ": " << r.err;
    EXPECT_EQ(r.err, "") << args;
    EXPECT_NE(r.out.find(kKvmEnabled), std::string::npos) << args << ": " << r.out;
  }
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
