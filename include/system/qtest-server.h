// The qtest protocol server: one line-based request/response session in which a test reads and
// writes guest memory and I/O ports, steps the virtual clock and intercepts interrupt lines. It
// knows nothing of sockets: bytes come in through receive(), replies leave through an output
// callback. Every input gets an answer and none can crash it: where QEMU asserts on a malformed
// request we answer "FAIL <reason>" and carry on (docs/system/qtest.rst lists the texts).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace nahanni {

class AddressSpace;
class MsiLog;
class Object;
class VirtualClock;

// What the commands act on; qtest_default_target() wires it to the running machine.
struct QtestTarget {
  // Guest-physical memory and I/O ports; a null answer means an empty space (reads as 0 / 0xff).
  std::function<AddressSpace*()> memory;
  std::function<AddressSpace*()> io;
  // QOM path lookup for irq_intercept_* and set_irq_in (absolute or partial: "ioapic").
  std::function<Object*(std::string_view path)> resolve;
  // clock_step/clock_set exist only with a clock (the qtest accelerator), as in QEMU.
  VirtualClock* clock = nullptr;
  // msi_count/msi_last/msi_clear (nahanni extension) exist only with an MSI log.
  MsiLog* msis = nullptr;
};

// The current machine's address spaces, resolve_path, and the clock and MSI log when the current
// accelerator is qtest.
QtestTarget qtest_default_target();

struct QtestLimits {
  // A request line longer than this (without its newline) is discarded and answered with FAIL.
  // It must hold a 'write' of max_data bytes in hex: 2 * 16 MiB plus the words before it.
  size_t max_line = 64u << 20;
  // SIZE of read, write, b64read, b64write and memset.
  uint64_t max_data = 16u << 20;
};

class QtestServer {
 public:
  using Output = std::function<void(std::string_view text)>;

  // `log`: "none" for no log, "" for stderr, otherwise a file (created or truncated).
  static Result<std::unique_ptr<QtestServer>> create(QtestTarget target, Output output, std::string_view log,
                                                     QtestLimits limits = {});
  ~QtestServer();
  QtestServer(const QtestServer&) = delete;
  QtestServer& operator=(const QtestServer&) = delete;

  // Connection events: opening forgets the recorded IRQ levels and restarts the log's timer.
  // Repeated events without a change (open while open) are ignored.
  void opened();
  void closed();
  // Bytes from the test, in any split: lines may arrive in pieces or several at once.
  void receive(std::span<const uint8_t> bytes);
  void receive(std::string_view bytes) {
    receive(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
  }

 private:
  struct Log;
  struct Intercept;
  QtestServer(QtestTarget target, Output output, std::unique_ptr<Log> log, QtestLimits limits);

  void process_line(std::string_view line);
  std::string execute(const std::vector<std::string_view>& words);
  void send(std::string_view line);  // one line; the newline is added here
  void irq_changed(size_t n, int level);

  std::string cmd_in(const std::vector<std::string_view>& w, unsigned size);
  std::string cmd_out(const std::vector<std::string_view>& w, unsigned size);
  std::string cmd_readn(const std::vector<std::string_view>& w, unsigned size);
  std::string cmd_writen(const std::vector<std::string_view>& w, unsigned size);
  std::string cmd_read(const std::vector<std::string_view>& w, bool base64);
  std::string cmd_write(const std::vector<std::string_view>& w);
  std::string cmd_b64write(const std::vector<std::string_view>& w);
  std::string cmd_memset(const std::vector<std::string_view>& w);
  std::string cmd_clock_step(const std::vector<std::string_view>& w);
  std::string cmd_clock_set(const std::vector<std::string_view>& w);
  std::string cmd_irq_intercept(const std::vector<std::string_view>& w, bool in);
  std::string cmd_set_irq_in(const std::vector<std::string_view>& w);
  std::string cmd_msi(const std::vector<std::string_view>& w);

  AddressSpace& memory();
  AddressSpace& io();

  QtestTarget target_;
  Output output_;
  std::unique_ptr<Log> log_;
  QtestLimits limits_;
  bool open_ = false;
  std::string pending_;        // bytes of an unfinished line
  bool discarding_ = false;    // inside an overlong line, until its newline
  std::unique_ptr<Intercept> intercept_;
  std::shared_ptr<QtestServer*> self_;  // the IRQ observer's way back; cleared on destruction
  struct EmptySpaces;
  std::unique_ptr<EmptySpaces> empty_;
};

}  // namespace nahanni
