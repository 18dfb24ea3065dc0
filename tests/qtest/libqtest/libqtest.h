// libqtest for nahanni, in C++: starts the emulator the way QEMU's libqtest does (two unix
// sockets the test listens on, "-qtest unix:... -accel qtest" last), then speaks the qtest line
// protocol and QMP to it. Protocol failures and a dead or hung emulator throw QTestError, which
// GoogleTest reports as a failure of the running test; the emulator is always killed and reaped.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "json-stream.h"
#include "process.h"
#include "util/fd.h"

namespace nahanni::qtest {

class QTestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// $QTEST_QEMU_BINARY, else the emulator this build made.
std::string emulator_binary();

// Runs the emulator with `args` (shell syntax) to completion: for command-line error tests.
RunResult run_emulator(const std::string& args, std::chrono::milliseconds timeout = std::chrono::seconds(30));

class QTestState {
 public:
  struct Options {
    bool qmp_handshake = true;  // false: leave the greeting unread, capabilities not negotiated
    std::chrono::milliseconds reply_timeout = std::chrono::seconds(30);
    // How long quit() waits after SIGTERM before SIGKILL.
    std::chrono::milliseconds quit_grace = std::chrono::seconds(10);
  };

  // Starts `<binary> -qtest unix:S -qtest-log L -chardev socket,path=Q,id=char0
  // -mon chardev=char0,mode=control -display none -audio none <extra_args> -accel qtest`.
  explicit QTestState(const std::string& extra_args);
  QTestState(const std::string& extra_args, Options options);
  // Quits if the test did not.
  ~QTestState();
  QTestState(const QTestState&) = delete;
  QTestState& operator=(const QTestState&) = delete;

  // --- qtest protocol ---
  // Sends one request line and returns the reply verbatim ("OK ...", "FAIL ...", "ERR ..."),
  // after consuming any IRQ lines before it.
  std::string command(std::string_view line);
  // Sends bytes as they are (no newline added), for framing tests; read the answers with reply().
  void send_raw(std::string_view bytes);
  // The next reply, skipping IRQ lines (their levels are recorded).
  std::string reply();
  // The next line verbatim, IRQ lines included (still recorded for get_irq).
  std::string next_line();

  uint8_t inb(uint16_t port);
  uint16_t inw(uint16_t port);
  uint32_t inl(uint16_t port);
  void outb(uint16_t port, uint8_t value);
  void outw(uint16_t port, uint16_t value);
  void outl(uint16_t port, uint32_t value);
  uint8_t readb(uint64_t addr);
  uint16_t readw(uint64_t addr);
  uint32_t readl(uint64_t addr);
  uint64_t readq(uint64_t addr);
  void writeb(uint64_t addr, uint8_t value);
  void writew(uint64_t addr, uint16_t value);
  void writel(uint64_t addr, uint32_t value);
  void writeq(uint64_t addr, uint64_t value);
  std::vector<uint8_t> memread(uint64_t addr, size_t size);      // "read", hex
  void memwrite(uint64_t addr, std::span<const uint8_t> data);    // "write", hex
  std::vector<uint8_t> bufread(uint64_t addr, size_t size);      // "b64read"
  void bufwrite(uint64_t addr, std::span<const uint8_t> data);    // "b64write"
  void memset(uint64_t addr, size_t size, uint8_t value);
  // New virtual time in ns. Without an argument: to the next timer deadline.
  int64_t clock_step(std::optional<int64_t> ns = std::nullopt);
  int64_t clock_set(int64_t ns);
  void irq_intercept_in(std::string_view qom_path);
  void set_irq_in(std::string_view qom_path, int num, int level);
  // Level of an intercepted line as reported by "IRQ raise/lower" lines (drains pending ones first).
  bool get_irq(int num);
  // nahanni extension: MSIs the qtest accelerator has received.
  uint64_t msi_count();

  // --- QMP ---
  // Sends a command and returns its reply ({"return": ...} or {"error": ...}); events that arrive
  // first are kept for qmp_eventwait().
  nlohmann::json qmp(const nlohmann::json& command);
  nlohmann::json qmp(std::string_view json_text);
  nlohmann::json qmp(const char* json_text) { return qmp(std::string_view(json_text)); }
  // The next event named `name` (kept or new); throws after `timeout`.
  nlohmann::json qmp_eventwait(std::string_view name,
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));
  // Bytes on the QMP socket as they are (malformed input tests); then qmp_receive() for the answer.
  void qmp_send_raw(std::string_view bytes);
  // The next non-event message.
  nlohmann::json qmp_receive();
  std::vector<nlohmann::json> take_events();
  // The greeting read at start (empty without the handshake).
  const nlohmann::json& qmp_greeting() const { return greeting_; }

  // --- the process ---
  pid_t pid() const { return child_.pid(); }
  // SIGTERM, then SIGKILL after a bound if it hangs; the status of the emulator's end.
  ExitStatus quit();
  // True if quit() had to use SIGKILL.
  bool was_killed() const { return killed_; }
  // Whatever the emulator wrote to stderr so far.
  std::string stderr_text() const;
  // The same without the "terminating on signal 15 from pid <ours> (...)" line that quit()'s
  // SIGTERM provokes (QEMU prints it too): what a test expecting a quiet run compares with "".
  std::string unexpected_stderr() const;

 private:
  void start(const std::string& extra_args);
  std::string read_qtest_line();
  std::string checked(std::string_view line);  // command() that requires OK; returns text after "OK"
  uint64_t checked_number(std::string_view line);
  nlohmann::json read_qmp_message();
  [[noreturn]] void fail(const std::string& what);
  void wait_readable(int fd);

  Options options_;
  ChildProcess child_;
  UniqueFd qtest_fd_, qmp_fd_, stderr_file_;
  std::string qtest_buf_;
  JsonStream qmp_stream_;
  std::deque<nlohmann::json> events_;
  nlohmann::json greeting_;
  std::vector<int> irq_levels_ = std::vector<int>(256, 0);
  std::optional<ExitStatus> exit_;
  bool killed_ = false;
};

}  // namespace nahanni::qtest
