// The Intel MultiProcessor Specification 1.4 tables (a floating pointer and the configuration
// table) a BIOS would leave in its area: one processor entry per vCPU, the PCI bus 0 and ISA bus
// 1, the IOAPIC at 0xfec00000, and interrupt assignments for the 16 ISA IRQs and every PCI slot's
// INTA..INTD (as PcMachine::intx_gsi routes them). Linux without ACPI reads these to use the
// IOAPIC and route PCI INTx.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace nahanni {

namespace mptable {
inline constexpr uint8_t kPciBus = 0, kIsaBus = 1;
inline constexpr uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoApic = 2, kEntryIoInterrupt = 3,
                         kEntryLocalInterrupt = 4;
inline constexpr uint8_t kIntTypeInt = 0, kIntTypeNmi = 1, kIntTypeExtInt = 3;
// Interrupt entry flags: polarity in bits 0-1, trigger mode in bits 2-3.
inline constexpr uint16_t kFlagsConforming = 0, kFlagsPciLevelHigh = 0x0d;
inline constexpr size_t kFloatingSize = 16, kHeaderSize = 44;
}  // namespace mptable

// The floating pointer followed by the configuration table, to be placed at `addr`.
std::vector<uint8_t> build_mptable(uint32_t addr, unsigned cpus);

}  // namespace nahanni
