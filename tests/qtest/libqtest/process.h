// Child processes for tests: the emulator started through "/bin/sh -c 'exec ...'" (so shell quoting
// applies to the arguments, as with QEMU's libqtest), stopped with SIGTERM and, if it hangs,
// SIGKILL; and a one-shot run that captures exit status, stdout and stderr.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <ostream>
#include <string>

namespace nahanni::qtest {

struct ExitStatus {
  bool exited = false;  // a normal exit with `code`; otherwise killed by `signal`
  int code = 0;
  int signal = 0;

  bool success() const { return exited && code == 0; }
  // "exit status 1", "killed by signal 9".
  std::string describe() const;
  bool operator==(const ExitStatus&) const = default;
};

ExitStatus exit_status_from_wait(int wstatus);
// For GoogleTest's messages.
inline void PrintTo(const ExitStatus& s, std::ostream* os) { *os << s.describe(); }

class ChildProcess {
 public:
  // Starts `/bin/sh -c "exec <command>"` with stdin from /dev/null and stdout/stderr on the
  // given descriptors (-1 keeps ours). The child dies with the test process (PR_SET_PDEATHSIG).
  static ChildProcess spawn(const std::string& command, int stdout_fd = -1, int stderr_fd = -1);

  ChildProcess() = default;
  ChildProcess(ChildProcess&& o) noexcept;
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  // Kills (SIGKILL) and reaps a child still running.
  ~ChildProcess();

  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0 && !status_; }
  // The exit status once the child has ended (reaps without blocking).
  std::optional<ExitStatus> poll();
  // Waits up to `timeout`; nullopt if still running.
  std::optional<ExitStatus> wait_for(std::chrono::milliseconds timeout);
  // SIGTERM, then SIGKILL if it has not ended after `grace`. `killed` tells whether SIGKILL was needed.
  ExitStatus terminate(std::chrono::milliseconds grace, bool* killed = nullptr);
  ExitStatus kill_now();

 private:
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

struct RunResult {
  ExitStatus status;
  std::string out;
  std::string err;
  bool timed_out = false;  // killed after the timeout
};

// Runs `command` (through /bin/sh -c "exec ...") to completion, capturing its output.
RunResult run_command(const std::string& command, std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace nahanni::qtest
