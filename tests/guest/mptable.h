// Where a PCI function's INTx pin reaches the IOAPIC, read from the Intel MP table (MP spec
// 1.4) the way an OS without ACPI finds it: the floating pointer "_MP_" in the BIOS area, the
// "PCMP" table, the PCI bus's I/O interrupt entries. nahanni's pc machine builds one; SeaBIOS
// builds one under QEMU.
#pragma once

#include <cstdint>

namespace nahanni::guest {

struct IntxRoute {
  uint64_t ioapic = 0;       // the IOAPIC's MMIO address
  uint8_t input = 0;         // its input (INTIN#)
  bool active_low = false;   // polarity, with "conforms to the bus" read as PCI's (low)
  bool level = true;         // trigger, likewise (PCI: level)
};

// The route of `pin` (1 = INTA .. 4 = INTD) of device `device` on bus 0; false when there is no
// MP table or it has no such entry.
bool mp_find_intx_route(uint8_t device, uint8_t pin, IntxRoute* out);

}  // namespace nahanni::guest
