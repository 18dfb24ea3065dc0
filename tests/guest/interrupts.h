// The IDT, the local APIC (xAPIC at 0xfee00000) and the watchdog. Interrupts stay disabled
// except inside wait_until(), which halts until an interrupt and re-checks, so handlers only
// ever run at well-defined points.
#pragma once

#include <cstdint>

namespace nahanni::guest {

// IDT vectors: device MSI-X vector N arrives as kDeviceVectorBase + N.
inline constexpr unsigned kDeviceVectorBase = 0x40;
inline constexpr unsigned kMaxDeviceVectors = 64;
inline constexpr unsigned kTimerVector = 0x30;
inline constexpr unsigned kIntxVector = 0x38;  // a device's INTx through the IOAPIC
inline constexpr unsigned kSpuriousVector = 0xff;

// Loads the IDT, masks the 8259 PICs, enables the LAPIC and starts its periodic one-second
// timer, which drives the watchdog.
void interrupts_init(unsigned watchdog_seconds);
uint32_t lapic_id();

// Interrupts seen on device vector N so far.
uint64_t device_interrupts(unsigned vector);
// INTx (level-triggered): `ack(arg)` runs in the handler before the EOI and must make the
// device lower its line (ivshmem: read IntrStatus); it returns what it read. Interrupts where
// it read non-zero are counted (the last value kept for reports), the others are spurious.
void set_intx_ack(uint32_t (*ack)(void*), void* arg);
uint64_t intx_interrupts();
uint64_t intx_spurious_interrupts();
uint32_t intx_last_ack();
// Other vectors that arrived with no handler (counted, reported at the end).
uint64_t unexpected_interrupts();

// Re-arms the watchdog: the next wait may take watchdog_seconds again.
void watchdog_kick();
// Calls `done(arg)` with interrupts off until it returns true, in between halting until the
// next interrupt (`halt`, for conditions an interrupt changes) or briefly spinning with them on
// (for shared memory a peer writes). Fails the run with ExitStatus::kTimeout, naming `what`,
// when the watchdog expires first.
void wait_until(bool (*done)(void*), void* arg, const char* what, bool halt);

}  // namespace nahanni::guest
