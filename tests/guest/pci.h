// PCI configuration mechanism #1 (0xcf8/0xcfc), enumeration of bus 0, BAR sizing and
// placement. There is no firmware under nahanni, so BARs may be unassigned; under QEMU,
// SeaBIOS has assigned them already. Both are handled.
#pragma once

#include <cstdint>

namespace nahanni::guest {

struct PciAddress {
  uint8_t bus = 0, device = 0, function = 0;
};

uint32_t pci_read32(PciAddress a, uint8_t offset);
uint16_t pci_read16(PciAddress a, uint8_t offset);
uint8_t pci_read8(PciAddress a, uint8_t offset);
void pci_write32(PciAddress a, uint8_t offset, uint32_t v);
void pci_write16(PciAddress a, uint8_t offset, uint16_t v);

inline constexpr uint8_t kPciVendorId = 0x00, kPciDeviceId = 0x02, kPciCommand = 0x04,
                         kPciStatus = 0x06, kPciRevision = 0x08, kPciHeaderType = 0x0e,
                         kPciBar0 = 0x10, kPciCapabilityPointer = 0x34;
inline constexpr uint16_t kPciCommandMemory = 1u << 1, kPciCommandMaster = 1u << 2,
                          kPciCommandIntxDisable = 1u << 10;
inline constexpr uint16_t kPciStatusCapabilities = 1u << 4;

struct PciBar {
  uint64_t address = 0;
  uint64_t size = 0;  // 0: not implemented
  bool is_64bit = false;
  bool is_io = false;
  bool prefetchable = false;
};

// Calls `visit(address, arg)` for every function present on bus 0.
void pci_for_each_function(void (*visit)(PciAddress, void*), void* arg);

// Reads BAR `index` with its size (memory decoding must be off while sizing; the caller
// arranges that).
PciBar pci_probe_bar(PciAddress a, int index);
void pci_set_bar(PciAddress a, int index, const PciBar& bar, uint64_t address);

// Offset of capability `id` in the capability list, or 0.
uint8_t pci_find_capability(PciAddress a, uint8_t id);

// Address windows BARs are placed in when nothing assigned them: 32-bit BARs below the IOAPIC
// from 0xe0000000 (above any RAM of the small test machines), 64-bit BARs from 32 GiB.
struct PciWindows {
  uint64_t next32 = 0xe0000000;
  uint64_t limit32 = 0xfec00000;
  uint64_t next64 = 0x800000000ull;
};
// Takes an aligned range of `size` from the window fitting `bar`; false when it does not fit.
bool pci_allocate(PciWindows& windows, const PciBar& bar, uint64_t* address);

}  // namespace nahanni::guest
