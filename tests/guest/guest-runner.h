// Runs the test guest (tests/guest/guest.elf) under an emulator, QEMU's or ours, and reads
// back what it reported: its serial log and its isa-debug-exit status.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <optional>
#include <string>
#include <vector>

#include "../contrib/test-support.h"
#include "exit-status.h"

namespace nahanni::guest::test {

using ivshmem::test::Subprocess;
using ivshmem::test::TempDir;

// The emulator's exit code for a guest status written to isa-debug-exit.
constexpr int exit_code(ExitStatus status) { return (static_cast<int>(status) << 1) | 1; }

inline std::string guest_elf() { return ivshmem::test::binary("TEST_GUEST", ""); }
inline std::string qemu_binary() { return ivshmem::test::binary("QEMU", ""); }
inline std::string nahanni_binary() { return ivshmem::test::binary("NAHANNI", ""); }

// /dev/kvm usable by this process (present and openable read-write).
inline bool kvm_usable() {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

// One emulator process running the guest with `cmdline`; the serial log goes to a file.
class GuestVm {
 public:
  GuestVm(const std::string& emulator, const std::string& accel, const TempDir& dir, const std::string& tag,
          const std::string& cmdline, const std::vector<std::string>& devices)
      : tag_(tag), serial_path_(dir.file(tag + ".serial")) {
    std::vector<std::string> argv{emulator, "-machine", "pc", "-accel", accel, "-m", "64", "-display", "none",
                                  "-nodefaults", "-no-reboot", "-kernel", guest_elf(), "-append", cmdline,
                                  "-chardev", "file,id=serial0,path=" + serial_path_, "-serial", "chardev:serial0",
                                  "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"};
    argv.insert(argv.end(), devices.begin(), devices.end());
    command_ = fmt::format("{}", fmt::join(argv, " "));
    process_ = std::make_unique<Subprocess>(argv, dir);
  }

  // Exit code, waiting up to four times the suite's patience: emulated KVM is slow on a
  // loaded machine, and a stuck guest ends itself through its watchdog well before.
  std::optional<int> wait() {
    for (int i = 0; i < 4; ++i)
      if (auto status = process_->wait()) return status;
    return std::nullopt;
  }
  pid_t pid() const { return process_->pid(); }
  // The serial log with the UART's CR LF line ends turned into LF.
  std::string serial() const {
    std::string text = ivshmem::test::read_file(serial_path_);
    std::erase(text, '\r');
    return text;
  }
  // Everything needed to understand a failure: the command, the serial log and stderr.
  std::string report() const {
    return fmt::format("--- {}: {}\n--- serial:\n{}--- stderr:\n{}", tag_, command_, serial(), process_->err());
  }

 private:
  std::string tag_, serial_path_, command_;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace nahanni::guest::test
