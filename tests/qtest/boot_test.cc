// The boot path under the qtest accelerator: -kernel/-initrd/-append load into guest RAM (read
// back here) and again on every reset; isa-debug-exit ends the emulator with the guest's status;
// -no-reboot turns a guest reset into a shutdown; and the errors for bad boot options.
#include <gtest/gtest.h>

#include "../unit/hw/boot-test-images.h"
#include "boot-test-support.h"
#include "libqtest.h"

namespace nahanni::qtest {
namespace {

using namespace boottest;
using nahanni::test::ElfSpec;
using nahanni::test::make_bzimage;
using nahanni::test::make_elf;

constexpr uint64_t kStartInfo = 0x6000;

std::vector<uint8_t> pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 31);
  return v;
}

TEST(IsaDebugExitTest, a_write_ends_the_emulator_with_status_v_shifted_or_1) {
  QTestState qts("-device isa-debug-exit");
  qts.outb(0x501, 0x10);
  ExitStatus st = qts.quit();
  EXPECT_TRUE(st.exited);
  EXPECT_EQ(st.code, (0x10 << 1) | 1);
  EXPECT_FALSE(qts.was_killed());
}

TEST(IsaDebugExitTest, custom_port_and_size_as_test_guests_use_it) {
  QTestState qts("-device isa-debug-exit,iobase=0xf4,iosize=0x04");
  EXPECT_EQ(qts.inb(0x501), 0xff);  // nothing at the default port
  qts.outl(0xf4, 0);
  ExitStatus st = qts.quit();
  EXPECT_TRUE(st.exited);
  EXPECT_EQ(st.code, 1);
}

TEST(NoRebootTest, guest_reset_without_no_reboot_resets_and_keeps_running) {
  QTestState qts("");
  qts.outb(0xcf9, 0x06);
  auto ev = qts.qmp_eventwait("RESET");
  EXPECT_EQ(ev["data"]["reason"], "guest-reset");
  EXPECT_EQ(ev["data"]["guest"], true);
  EXPECT_EQ(qts.qmp(R"({"execute":"query-status"})")["return"]["status"], "running");
}

TEST(NoRebootTest, guest_reset_with_no_reboot_shuts_down_cleanly) {
  QTestState qts("-no-reboot");
  qts.outb(0xcf9, 0x06);
  auto ev = qts.qmp_eventwait("SHUTDOWN");
  EXPECT_EQ(ev["data"]["reason"], "guest-reset");
  EXPECT_EQ(ev["data"]["guest"], true);
  ExitStatus st = qts.quit();
  EXPECT_TRUE(st.success()) << st.describe();
  EXPECT_EQ(qts.unexpected_stderr(), "");
}

TEST(KernelLoadTest, pvh_kernel_initrd_and_cmdline_are_in_ram_and_reloaded_on_reset) {
  ScratchDir dir;
  auto text = pattern(0x2000, 9);
  write_bytes(dir.file("guest.elf"), make_elf(ElfSpec{.segments = {{0x100000, text, 0x3000}}, .pvh_entry = 0x100000}));
  auto initrd = pattern(0x1800, 4);
  write_bytes(dir.file("initrd"), initrd);
  QTestState qts("-m 64 -kernel " + dir.file("guest.elf") + " -initrd " + dir.file("initrd") +
                 " -append 'console=ttyS0 answer=42'");
  EXPECT_EQ(qts.readl(kStartInfo), 0x336ec578u);
  EXPECT_EQ(qts.readl(kStartInfo + 4), 1u);
  EXPECT_EQ(qts.memread(0x100000, text.size()), text);
  EXPECT_EQ(qts.readq(0x102000), 0u);  // bss
  uint64_t cmdline = qts.readq(kStartInfo + 24);
  auto bytes = qts.memread(cmdline, 25);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), std::string("console=ttyS0 answer=42\0", 24) + '\0');
  ASSERT_EQ(qts.readl(kStartInfo + 12), 1u);
  uint64_t mod = qts.readq(kStartInfo + 16);
  uint64_t initrd_addr = qts.readq(mod);
  EXPECT_EQ(qts.readq(mod + 8), initrd.size());
  EXPECT_EQ(qts.memread(initrd_addr, initrd.size()), initrd);

  // The guest scribbles over its kernel; a reset restores it.
  qts.memset(0x100000, 0x100, 0xee);
  qts.writel(kStartInfo, 0);
  qts.qmp(R"({"execute":"system_reset"})");
  qts.qmp_eventwait("RESET");
  EXPECT_EQ(qts.memread(0x100000, text.size()), text);
  EXPECT_EQ(qts.readl(kStartInfo), 0x336ec578u);
}

TEST(KernelLoadTest, bzimage_boot_params_and_mp_table) {
  ScratchDir dir;
  write_bytes(dir.file("bzImage"), make_bzimage({}));
  QTestState qts("-m 64 -kernel " + dir.file("bzImage") + " -append quiet");
  EXPECT_EQ(qts.readl(0x7000 + 0x202), 0x53726448u);  // "HdrS" in boot_params
  EXPECT_EQ(qts.readb(0x7000 + 0x210), 0xff);         // type_of_loader
  uint32_t cmdline = qts.readl(0x7000 + 0x228);
  auto bytes = qts.memread(cmdline, 6);
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), std::string("quiet\0", 6));
  EXPECT_EQ(qts.readb(0x7000 + 0x1e8), 3);  // e820 entries for 64 MiB
  EXPECT_EQ(qts.readl(0xf0000), 0x5f504d5fu);  // "_MP_"
  EXPECT_EQ(qts.readb(0x1000001), 7);          // the payload at pref_address
}

TEST(KernelLoadTest, errors) {
  ScratchDir dir;
  auto r = run_emulator("-accel qtest -kernel " + dir.file("missing"));
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: could not open kernel file '" + dir.file("missing") +
                       "': No such file or directory\n");
  r = run_emulator("-accel qtest -initrd /etc/hostname");
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -initrd only allowed with -kernel option\n");
  EXPECT_EQ(r.status.code, 1);
  r = run_emulator("-accel qtest -append quiet");
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -append only allowed with -kernel option\n");
  write_bytes(dir.file("plain.elf"), make_elf(ElfSpec{.segments = {{0x100000, pattern(64, 0), 64}}}));
  r = run_emulator("-accel qtest -kernel " + dir.file("plain.elf"));
  EXPECT_EQ(r.err, "nahanni-system-x86_64: the ELF kernel has no PVH entry point (Xen note XEN_ELFNOTE_PHYS32_ENTRY)\n");
  r = run_emulator("-accel qtest -kernel " + dir.file("plain.elf") + " -initrd " + dir.file("nope"));
  EXPECT_EQ(r.err, "nahanni-system-x86_64: error reading initrd " + dir.file("nope") + ": Failed to open file \u201c" +
                       dir.file("nope") + "\u201d: open() failed: No such file or directory\n");
  r = run_emulator("-accel qtest -kernel /etc/hostname");
  EXPECT_EQ(r.err, "nahanni-system-x86_64: the kernel is neither an ELF with a PVH note nor a Linux bzImage\n");
  write_bytes(dir.file("old.bz"), make_bzimage({.version = 0x0206}));
  r = run_emulator("-accel qtest -kernel " + dir.file("old.bz"));
  EXPECT_EQ(r.err, "nahanni-system-x86_64: Linux boot protocol 2.06 is too old: the 64-bit entry needs 2.10 or later\n");
  EXPECT_EQ(r.status.code, 1);
}

}  // namespace
}  // namespace nahanni::qtest
