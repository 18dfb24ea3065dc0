// Debian's bzImage under -accel kvm through the 64-bit boot protocol entry: the decompressor's
// first serial line must appear on COM1. Debian builds without CONFIG_X86_VERBOSE_BOOTUP, so
// its decompressor stays silent on success ("early console in extract_kernel" is not compiled
// in); its warnings still print, and with "nokaslr" on the command line the first one is
// "KASLR disabled: 'nokaslr' on cmdline." through the earlyprintk console. Seeing it proves the
// loader's boot_params (command line), page tables, GDT and entry state carried the
// decompressor to its console. The kernel is NAHANNI_TEST_BZIMAGE, else LINUX_GUEST_IMAGE's
// (tests/interop/linux-guest): skips without a usable /dev/kvm or when the image builder says a
// prerequisite is missing ("skip: ..."); fails when it could not build the image. Under the
// software kvm_pvm of the development machine the line appears about 1 s after start (the whole
// case takes 1.2 s; up to 3 s when the machine is loaded); the 20-minute bound is only a
// timeout. Two tiny synthesized guests check the PVH and the bzImage 64-bit entry under KVM
// everywhere /dev/kvm works.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "../unit/hw/boot-test-images.h"
#include "libqtest.h"
#include "process.h"

namespace nahanni::qtest {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

bool kvm_usable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool usable_file(const std::string& path) {
  std::error_code ec;
  return !path.empty() && fs::is_regular_file(path, ec) && fs::file_size(path, ec) > 0;
}

// The kernel; or why there is none, and whether that is a missing prerequisite (skip) or a
// failed build (fail). tests/interop/linux-guest/build-image.sh writes one status line:
// "ok RELEASE", "skip: REASON" (no apt, dpkg or static busybox on this host) or "error: REASON"
// (apt could fetch no kernel).
struct KernelLookup {
  std::string path;
  std::string why;
  bool failed = false;
};

KernelLookup find_kernel() {
  if (const char* path = std::getenv("NAHANNI_TEST_BZIMAGE"); path && *path) {
    if (usable_file(path)) return {path, "", false};
    return {"", std::string("NAHANNI_TEST_BZIMAGE=") + path + " is not a readable non-empty file", true};
  }
  const char* dir = std::getenv("LINUX_GUEST_IMAGE");
  if (!dir || !*dir) return {"", "no Debian kernel: set LINUX_GUEST_IMAGE or NAHANNI_TEST_BZIMAGE", false};
  std::string status = read_text(std::string(dir) + "/status");
  while (!status.empty() && (status.back() == '\n' || status.back() == '\r')) status.pop_back();
  if (status.rfind("skip:", 0) == 0) return {"", "the Linux guest image was not built: " + status, false};
  if (status.rfind("ok ", 0) != 0)
    return {"",
            status.empty() ? "the Linux guest image was not built: no status file in " + std::string(dir) +
                                 " (meson test builds the linux-guest-image target; with --no-rebuild, build it first)"
                           : "the Linux guest image failed to build: " + status,
            true};
  std::string path = std::string(dir) + "/vmlinuz";
  if (!usable_file(path)) return {"", "the Linux guest image says '" + status + "' but " + path + " is empty", true};
  return {path, "", false};
}

TEST(LinuxBootTest, debian_bzimage_decompressor_prints_its_first_serial_line_under_kvm) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened";
  KernelLookup found = find_kernel();
  if (found.failed) FAIL() << found.why;
  if (found.path.empty()) GTEST_SKIP() << found.why;
  const std::string& kernel = found.path;

  std::string tmpl = "/tmp/nn-linux-boot.XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  const std::string dir = tmpl, serial = dir + "/serial.log", err = dir + "/stderr.log";
  int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  ASSERT_GE(err_fd, 0);
  ChildProcess vm = ChildProcess::spawn(
      emulator_binary() + " -accel kvm -m 256 -display none -no-reboot -serial file:" + serial + " -kernel " +
          kernel + " -append 'console=ttyS0 earlyprintk=serial nokaslr reboot=t panic=-1 acpi=off'",
      -1, err_fd);
  ::close(err_fd);

  auto deadline = std::chrono::steady_clock::now() + 20min;
  const std::string line = "KASLR disabled: 'nokaslr' on cmdline.";
  bool seen = false;
  while (!seen && vm.running() && std::chrono::steady_clock::now() < deadline) {
    seen = read_text(serial).find(line) != std::string::npos;
    if (!seen) {
      std::this_thread::sleep_for(200ms);
      vm.poll();
    }
  }
  seen = seen || read_text(serial).find(line) != std::string::npos;
  std::string out = read_text(serial), errors = read_text(err);
  if (vm.running()) vm.terminate(10s);
  std::error_code ec;
  fs::remove_all(dir, ec);
  EXPECT_TRUE(seen) << "serial output:\n" << out.substr(0, 2000) << "\nstderr:\n" << errors;
}

// Tiny guests for both entries under KVM: write a byte to COM1, then isa-debug-exit with
// status code; the same machine code runs in 32-bit protected mode (PVH) and in long mode
// (bzImage 64-bit entry). Proves the entry state the loaders hand to vCPU 0.
std::vector<uint8_t> serial_then_exit(uint8_t byte, uint8_t code) {
  return {0x66, 0xba, 0xf8, 0x03, 0xb0, byte, 0xee,  // mov dx, 0x3f8; mov al, byte; out dx, al
          0x66, 0xba, 0x01, 0x05, 0xb0, code, 0xee,  // mov dx, 0x501; mov al, code; out dx, al
          0xf4, 0xeb, 0xfd};                         // hlt; jmp hlt
}

struct TinyRun {
  ExitStatus status;
  std::string serial;
};

// `nographic`: COM1 on stdout instead of a file.
TinyRun run_tiny(const std::vector<uint8_t>& image, bool nographic = false) {
  std::string tmpl = "/tmp/nn-tiny-boot.XXXXXX";
  if (!::mkdtemp(tmpl.data())) return {};
  const std::string dir = tmpl;
  {
    std::ofstream out(dir + "/kernel", std::ios::binary);
    out.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
  }
  std::string serial = nographic ? "-nographic" : "-display none -serial file:" + dir + "/serial.log";
  RunResult r = run_emulator("-accel kvm -m 64 -device isa-debug-exit " + serial + " -kernel " + dir + "/kernel",
                             std::chrono::minutes(5));
  TinyRun out{r.status, nographic ? r.out : read_text(dir + "/serial.log")};
  std::error_code ec;
  fs::remove_all(dir, ec);
  return out;
}

TEST(TinyBootTest, pvh_entry_runs_under_kvm) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened";
  auto code = serial_then_exit('P', 0x21);
  auto run = run_tiny(test::make_elf(test::ElfSpec{.is64 = false, .segments = {{0x100000, code, 0x1000}},
                                                   .pvh_entry = 0x100000, .note_desc_size = 4}));
  EXPECT_TRUE(run.status.exited);
  EXPECT_EQ(run.status.code, (0x21 << 1) | 1);
  EXPECT_EQ(run.serial, "P");
}

TEST(TinyBootTest, bzimage_64bit_entry_runs_under_kvm) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened";
  auto image = test::make_bzimage(test::BzImageSpec{.payload_size = 0x1000});
  auto code = serial_then_exit('L', 0x22);
  size_t entry = (3 + 1) * 512 + 0x200;  // setup_sects 3; the 64-bit entry is at +0x200
  std::copy(code.begin(), code.end(), image.begin() + static_cast<std::ptrdiff_t>(entry));
  auto run = run_tiny(image);
  EXPECT_TRUE(run.status.exited);
  EXPECT_EQ(run.status.code, (0x22 << 1) | 1);
  EXPECT_EQ(run.serial, "L");
}

TEST(TinyBootTest, nographic_puts_com1_on_stdout) {
  if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm cannot be opened";
  auto code = serial_then_exit('N', 0x01);
  auto run = run_tiny(test::make_elf(test::ElfSpec{.segments = {{0x100000, code, code.size()}},
                                                   .pvh_entry = 0x100000}),
                      true);
  EXPECT_EQ(run.status.code, 3);
  EXPECT_EQ(run.serial, "N");
}

}  // namespace
}  // namespace nahanni::qtest
