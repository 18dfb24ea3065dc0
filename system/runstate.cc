#include "system/runstate.h"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <array>
#include <atomic>
#include <fstream>

#include "hw/core/machine.h"
#include "monitor/events.h"
#include "system/accel.h"
#include "system/main-loop.h"
#include "util/fd.h"
#include "util/log.h"

namespace nahanni {
namespace {

RunState g_state = RunState::Prelaunch;
Machine* g_machine = nullptr;
std::function<void(ShutdownCause)> g_shutdown_handler;
std::function<void()> g_powerdown_handler;
UniqueFd g_signal_fd;
std::atomic<int> g_exit_status{0};
bool g_no_reboot = false;

constexpr std::array<std::string_view, 16> kRunStateNames = {
    "debug",       "inmigrate", "internal-error", "io-error",      "paused", "postmigrate",
    "prelaunch",   "finish-migrate", "restore-vm", "running",     "save-vm", "shutdown",
    "suspended",   "watchdog",  "guest-panicked", "colo"};

constexpr std::array<std::string_view, 11> kCauseNames = {
    "none",        "host-error",     "host-qmp-quit", "host-qmp-system-reset", "host-signal",   "host-ui",
    "guest-shutdown", "guest-reset", "guest-panic",   "subsystem-reset",       "snapshot-load"};

bool needs_reset() {
  return g_state == RunState::Shutdown || g_state == RunState::InternalError || g_state == RunState::GuestPanicked;
}

nlohmann::json cause_data(ShutdownCause cause) {
  return nlohmann::json{{"guest", shutdown_cause_is_guest(cause)}, {"reason", shutdown_cause_name(cause)}};
}

std::string process_name(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(f, name);
  return name.empty() ? "<unknown process>" : name;
}

}  // namespace

std::string_view runstate_name(RunState state) { return kRunStateNames[static_cast<size_t>(state)]; }
RunState runstate_get() { return g_state; }
void runstate_set(RunState state) { g_state = state; }
bool runstate_is_running() { return g_state == RunState::Running; }

std::string_view shutdown_cause_name(ShutdownCause cause) { return kCauseNames[static_cast<size_t>(cause)]; }

bool shutdown_cause_is_guest(ShutdownCause cause) {
  return cause == ShutdownCause::GuestShutdown || cause == ShutdownCause::GuestReset ||
         cause == ShutdownCause::GuestPanic;
}

Status vm_start() {
  if (runstate_is_running()) return {};
  if (needs_reset()) return Error("Resetting the Virtual Machine is required");
  if (Accelerator* accel = current_accel()) NN_TRY(accel->start());
  g_state = RunState::Running;
  emit_event("RESUME", nullptr);
  return {};
}

void vm_stop(RunState state) {
  if (!runstate_is_running()) return;
  if (Accelerator* accel = current_accel()) accel->stop();
  g_state = state;
  emit_event("STOP", nullptr);
}

void request_shutdown(ShutdownCause cause) {
  emit_event("SHUTDOWN", cause_data(cause));
  // No STOP event here: QEMU 7.2 sends only SHUTDOWN before the process ends.
  if (runstate_is_running())
    if (Accelerator* accel = current_accel()) accel->stop();
  g_state = RunState::Shutdown;
  if (g_shutdown_handler) {
    g_shutdown_handler(cause);
  } else {
    main_loop().quit();  // the loop ends after the current callback: the reply still goes out
  }
}

void request_reset(ShutdownCause cause) {
  emit_event("RESET", cause_data(cause));
  if (Machine* m = g_machine ? g_machine : current_machine()) m->reset();
  if (Accelerator* accel = current_accel()) accel->reset();
}

void request_powerdown() {
  emit_event("POWERDOWN", nullptr);
  if (g_powerdown_handler) g_powerdown_handler();
}

void request_exit(int status) {
  g_exit_status = status;
  // Posted: a vCPU thread must not stop the accelerator it runs on.
  main_loop().post([] {
    if (runstate_is_running())
      if (Accelerator* accel = current_accel()) accel->stop();
    g_state = RunState::Shutdown;
    main_loop().quit();
  });
}

void set_no_reboot(bool on) { g_no_reboot = on; }

void set_shutdown_handler(std::function<void(ShutdownCause)> handler) { g_shutdown_handler = std::move(handler); }
void set_powerdown_handler(std::function<void()> handler) { g_powerdown_handler = std::move(handler); }

void install_runstate_hooks(Machine& machine) {
  g_machine = &machine;
  if (!machine.on_guest_reset)
    machine.on_guest_reset = [] {
      if (g_no_reboot) request_shutdown(ShutdownCause::GuestReset);
      else request_reset(ShutdownCause::GuestReset);
    };
  if (!machine.on_guest_poweroff) machine.on_guest_poweroff = [] { request_shutdown(ShutdownCause::GuestShutdown); };
  // Blocked here, before any vCPU thread exists, so every thread inherits the mask and the
  // signals are only ever read from the signalfd on the main loop.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  if (::pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0) return;
  int fd = ::signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (fd >= 0) g_signal_fd = UniqueFd(fd);
}

Status runstate_start(bool autostart) {
  if (!autostart) {
    g_state = RunState::Prelaunch;
    return {};
  }
  g_state = RunState::Prelaunch;
  // No RESUME at start-up: QEMU sends none either (no monitor has negotiated yet).
  if (Accelerator* accel = current_accel()) NN_TRY(accel->start());
  g_state = RunState::Running;
  return {};
}

int run_main_loop() {
  EventLoop::Handle signal_watch;
  if (g_signal_fd.valid()) {
    signal_watch = main_loop().watch_fd(g_signal_fd.get(), EventLoop::kReadable, [](uint32_t) {
      signalfd_siginfo info{};
      while (::read(g_signal_fd.get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
        log::errorf("terminating on signal {} from pid {} ({})", info.ssi_signo, info.ssi_pid,
                   process_name(static_cast<pid_t>(info.ssi_pid)));
        request_shutdown(ShutdownCause::HostSignal);
      }
    });
  }
  main_loop().run();
  return g_exit_status;
}

}  // namespace nahanni
