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
  // QEMU exits inside the write; an emulator that stops the VM a little later may still run a
  // few instructions. Only a long silence means the write went nowhere: say so, then stop.
  for (int i = 0; i < 2000000; ++i) cpu_relax();
  print("guest: no isa-debug-exit device at 0xf4; resetting by triple fault\n");
  // An empty IDT turns the breakpoint into a triple fault: with -no-reboot the emulator stops
  // (exit code 0, never a guest status) instead of leaving a halted VM behind.
  struct [[gnu::packed]] {
    uint16_t limit;
    uint64_t base;
  } empty_idt{0, 0};
  asm volatile("lidt %0; int3" : : "m"(empty_idt));
  for (;;) asm volatile("cli; hlt");
}

}  // namespace nahanni::guest
