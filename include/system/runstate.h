// The run state of the virtual machine (QEMU's RunState names, as query-status shows them) and
// the requests that change it: start/stop (cont, stop; RESUME, STOP), reset (system_reset, guest
// reset; RESET), power-down (system_powerdown; POWERDOWN) and shutdown (quit, SIGTERM, guest
// power-off; SHUTDOWN, then the main loop ends).
#pragma once

#include <functional>
#include <string_view>

#include "util/error.h"

namespace nahanni {

class Machine;

enum class RunState {
  Debug, Inmigrate, InternalError, IoError, Paused, Postmigrate, Prelaunch, FinishMigrate,
  RestoreVm, Running, SaveVm, Shutdown, Suspended, Watchdog, GuestPanicked, Colo,
};
// "prelaunch", "running", "paused", "shutdown", ...
std::string_view runstate_name(RunState state);
RunState runstate_get();
void runstate_set(RunState state);
bool runstate_is_running();

// Why the machine shuts down or resets (the "reason" of SHUTDOWN and RESET).
enum class ShutdownCause {
  None, HostError, HostQmpQuit, HostQmpSystemReset, HostSignal, HostUi, GuestShutdown, GuestReset,
  GuestPanic, SubsystemReset, SnapshotLoad,
};
std::string_view shutdown_cause_name(ShutdownCause cause);
// Guest-initiated causes set "guest": true in the events.
bool shutdown_cause_is_guest(ShutdownCause cause);

// cont: starts the accelerator and enters "running" with a RESUME event; nothing when running.
// "Resetting the Virtual Machine is required" after a shutdown or internal error.
Status vm_start();
// stop: leaves "running" for `state` with a STOP event; nothing when not running.
void vm_stop(RunState state = RunState::Paused);

// Emits SHUTDOWN {"guest", "reason"}, enters "shutdown" and calls the shutdown handler (by
// default: quit the main loop, so the process exits after the current reply is written).
void request_shutdown(ShutdownCause cause);
// Emits RESET {"guest", "reason"} and resets the machine.
void request_reset(ShutdownCause cause);
// Emits POWERDOWN and calls the power-down handler (the machine's ACPI power button).
void request_powerdown();
// Ends the emulator with process exit status `status` (isa-debug-exit). Like QEMU's exit() in
// that device it sends no SHUTDOWN event; unlike it, the main loop ends first, so teardown runs
// and nothing is left behind. Safe to call from a vCPU thread.
void request_exit(int status);
// -no-reboot: a guest's reset request shuts the machine down (cause guest-reset) instead.
void set_no_reboot(bool on);

// Hooks for the machine and for vl (-no-shutdown); tests replace them. An empty function
// restores the default.
void set_shutdown_handler(std::function<void(ShutdownCause)> handler);
void set_powerdown_handler(std::function<void()> handler);

// For vl, in this order:
// install_runstate_hooks: remembers the machine (for resets), routes its guest reset and
// power-off requests here (unless already routed) and blocks SIGTERM/SIGINT/SIGHUP so that they
// are read from the main loop (call before any thread starts);
void install_runstate_hooks(Machine& machine);
// runstate_start: "running" (autostart) or "prelaunch" (-S);
Status runstate_start(bool autostart);
// run_main_loop: runs the main loop until a shutdown request; a termination signal prints
// "PROGRAM: terminating on signal N from pid P (COMM)" and requests a host-signal shutdown, as
// QEMU does. Returns the process exit status (0, or request_exit's).
int run_main_loop();

}  // namespace nahanni
