// A client for QEMU's qtest line protocol, just enough for the interop tests: Debian builds
// QEMU without the qtest accelerator, so these tests run it paused under TCG with a qtest
// socket and program its PCI device through it.
#pragma once

#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

#include <cstdint>
#include <optional>
#include <string>

#include "util/fd.h"

namespace nahanni::ivshmem::test {

// QEMU's qtest line protocol, just enough: one command, one "OK [value]" reply.
class QemuQtest {
 public:
  explicit QemuQtest(UniqueFd sock) : sock_(std::move(sock)) {}

  std::optional<uint64_t> command(const std::string& line) {
    std::string out = line + "\n";
    if (::write(sock_.get(), out.data(), out.size()) != static_cast<ssize_t>(out.size())) return std::nullopt;
    while (true) {
      std::string reply = read_line();
      if (reply.empty()) return std::nullopt;
      if (reply.rfind("IRQ", 0) == 0) continue;
      if (reply.rfind("OK", 0) != 0) return std::nullopt;
      return reply.size() > 3 ? std::stoull(reply.substr(3), nullptr, 0) : 0;
    }
  }
  std::optional<uint64_t> readl(uint64_t addr) { return command(fmt::format("readl {:#x}", addr)); }
  bool writel(uint64_t addr, uint32_t value) { return command(fmt::format("writel {:#x} {:#x}", addr, value)).has_value(); }
  // Configuration space of 00:DEV.0 through ports 0xcf8/0xcfc, dword-aligned.
  bool config_write(unsigned dev, unsigned reg, uint32_t value) {
    return command(fmt::format("outl 0xcf8 {:#x}", 0x80000000u | (dev << 11) | reg)) &&
           command(fmt::format("outl 0xcfc {:#x}", value));
  }
  std::optional<uint64_t> config_read(unsigned dev, unsigned reg) {
    if (!command(fmt::format("outl 0xcf8 {:#x}", 0x80000000u | (dev << 11) | reg))) return std::nullopt;
    return command("inl 0xcfc");
  }

 private:
  std::string read_line() {
    while (true) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return line;
      }
      pollfd p{sock_.get(), POLLIN, 0};
      if (::poll(&p, 1, 30000) != 1) return "";
      char buf[512];
      ssize_t n = ::read(sock_.get(), buf, sizeof buf);
      if (n <= 0) return "";
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }

  UniqueFd sock_;
  std::string buffer_;
};

}  // namespace nahanni::ivshmem::test
