// How the test guest ends: a status byte written to QEMU's isa-debug-exit device (port 0xf4),
// which makes the emulator exit with (status << 1) | 1. Each failure kind has its own status so
// a test can tell them apart without parsing the serial log. Keep docs/devel/test-guest.rst and
// tests/guest/guest-runner.h in step with this table.
#pragma once

#include <cstdint>

namespace nahanni::guest {

enum class ExitStatus : uint8_t {
  kPass = 0x10,           // emulator exit 33
  kBadCommandLine = 0x11, // 35: unknown step, missing or malformed argument
  kNoDevice = 0x12,       // 37: no ivshmem device (of the kind a step needs)
  kDeviceSetup = 0x13,    // 39: BAR sizing/placement, MSI-X capability, page tables
  kMismatch = 0x14,       // 41: a value differs from the one expected
  kTimeout = 0x15,        // 43: the watchdog fired (a lost interrupt, a peer that never wrote)
  kException = 0x16,      // 45: a CPU exception
  kBadStartInfo = 0x17,   // 47: no valid hvm_start_info in EBX
};

inline constexpr uint16_t kDebugExitPort = 0xf4;

// Prints the final line ("guest: PASS" or "guest: FAIL <kind>: <why>") and exits. Never returns.
[[noreturn]] void guest_exit(ExitStatus status, const char* why = "");
const char* exit_status_name(ExitStatus status);

}  // namespace nahanni::guest
