// Runs the test guest (tests/guest/guest.elf) under an emulator, QEMU's or ours, and reads
// back what it reported: its serial log and its isa-debug-exit status.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <optional>
#include <regex>
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
  // With `qmp`, the emulator also listens for QMP on qmp_path().
  GuestVm(const std::string& emulator, const std::string& accel, const TempDir& dir, const std::string& tag,
          const std::string& cmdline, const std::vector<std::string>& devices, bool qmp = false)
      : tag_(tag), serial_path_(dir.file(tag + ".serial")), qmp_path_(dir.file(tag + ".qmp")) {
    std::vector<std::string> argv{emulator, "-machine", "pc", "-accel", accel, "-m", "64", "-display", "none",
                                  "-nodefaults", "-no-reboot", "-kernel", guest_elf(), "-append", cmdline,
                                  "-chardev", "file,id=serial0,path=" + serial_path_, "-serial", "chardev:serial0",
                                  "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"};
    argv.insert(argv.end(), devices.begin(), devices.end());
    if (qmp) argv.insert(argv.end(), {"-qmp", "unix:" + qmp_path_ + ",server=on,wait=off"});
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
  const std::string& qmp_path() const { return qmp_path_; }
  // Waits until the serial log holds `text` (or the guest ended).
  bool serial_shows(const std::string& text) {
    return ivshmem::test::eventually(
        [&] { return serial().find(text) != std::string::npos || !process_->running(); }) &&
           serial().find(text) != std::string::npos;
  }
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
  std::string tag_, serial_path_, qmp_path_, command_;
  std::unique_ptr<Subprocess> process_;
};

// What the guest tests set up around guests: a scratch directory, shared-memory files, an
// ivshmem-server, and the device options for both emulators.
class GuestLab {
 public:
  static constexpr unsigned kVectors = 4;

  bool ready() const { return !dir_.path().empty(); }
  const TempDir& dir() const { return dir_; }

  // A zeroed 1 MiB file for memory-backend-file.
  std::string shared_file(const std::string& name = "shm") {
    std::string path = dir_.file(name);
    std::ofstream(path).close();
    return ::truncate(path.c_str(), 1 << 20) == 0 ? path : "";
  }
  static std::vector<std::string> plain_device(const std::string& path) {
    return {"-object", "memory-backend-file,id=shm,mem-path=" + path + ",size=1M,share=on", "-device",
            "ivshmem-plain,id=iv0,memdev=shm"};
  }
  std::vector<std::string> doorbell_device(const std::string& extra = "", unsigned vectors = kVectors) const {
    return {"-chardev", "socket,id=ivs,path=" + socket_, "-device",
            fmt::format("ivshmem-doorbell,id=iv0,chardev=ivs,vectors={}{}", vectors, extra)};
  }

  // ivshmem-server with kVectors vectors and 1 MiB of memory. With `shm_name`, the memory is
  // the POSIX object /dev/shm/<shm_name>, which the test can map (the server removes it).
  bool start_server(const std::string& shm_name = "") {
    socket_ = dir_.file("ivshmem");
    std::vector<std::string> args{"-l", "1M", "-n", std::to_string(kVectors)};
    if (!shm_name.empty()) args.insert(args.end(), {"-M", shm_name});
    server_ = ivshmem::test::start_server(dir_, socket_, args);
    return server_ != nullptr;
  }
  std::string server_log() const { return server_ ? server_->err() : ""; }

  // The id the server's log says it gave the peer with this pid, or -1.
  int server_id_of(pid_t pid) const {
    std::string log = server_log();
    std::smatch m;
    std::regex connected(fmt::format(R"(peer (\d+) connected \(pid {},)", pid));
    return std::regex_search(log, m, connected) ? std::stoi(m[1]) : -1;
  }
  // Waits until the server has given `vm` an id, so the next guest gets the next one.
  bool wait_for_server_id(const GuestVm& vm) const {
    return ivshmem::test::eventually([&] { return server_id_of(vm.pid()) >= 0; });
  }

 private:
  TempDir dir_;
  std::string socket_;
  std::unique_ptr<Subprocess> server_;
};

}  // namespace nahanni::guest::test
