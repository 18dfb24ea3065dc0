#include "exit-status.h"

#include "console.h"
#include "io.h"

namespace nahanni::guest {

const char* exit_status_name(ExitStatus status) {
  switch (status) {
    case ExitStatus::kPass: return "pass";
    case ExitStatus::kBadCommandLine: return "bad-command-line";
    case ExitStatus::kNoDevice: return "no-device";
    case ExitStatus::kDeviceSetup: return "device-setup";
    case ExitStatus::kMismatch: return "mismatch";
    case ExitStatus::kTimeout: return "timeout";
    case ExitStatus::kException: return "exception";
    case ExitStatus::kBadStartInfo: return "bad-start-info";
  }
  return "unknown";
}

void guest_exit(ExitStatus status, const char* why) {
  interrupts_off();
  if (status == ExitStatus::kPass)
    print("guest: PASS\n");
  else
    print("guest: FAIL %s: %s\n", exit_status_name(status), why);
  outb(kDebugExitPort, static_cast<uint8_t>(status));
  // Without isa-debug-exit the write is ignored: say so, then stop for good.
  print("guest: no isa-debug-exit device at 0xf4; halting\n");
  for (;;) asm volatile("cli; hlt");
}

}  // namespace nahanni::guest
