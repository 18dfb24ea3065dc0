// The guest's physical memory map as firmware would report it (BIOS e820), derived from the pc
// machine's RAM layout. Both boot loaders hand it over: the Linux loader in boot_params, the PVH
// loader as hvm_start_info's memory map (same type codes).
#pragma once

#include <cstdint>
#include <vector>

namespace nahanni {

// RAM as the pc machine lays it out: from 0 up to `below_4g`, the rest from 4 GiB on.
struct RamLayout {
  uint64_t below_4g = 0;
  uint64_t above_4g = 0;
  // True when [addr, addr + size) lies entirely in RAM.
  bool contains(uint64_t addr, uint64_t size) const;
};

struct E820Entry {
  uint64_t addr = 0;
  uint64_t size = 0;
  uint32_t type = 0;
  bool operator==(const E820Entry&) const = default;
};

inline constexpr uint32_t kE820Ram = 1;
inline constexpr uint32_t kE820Reserved = 2;

// Reserved for what a BIOS would own: the EBDA below 640 KiB and everything up to 1 MiB (VGA
// hole, option ROMs, the BIOS area where the MP table lives).
inline constexpr uint64_t kEbdaStart = 0x9fc00;
inline constexpr uint64_t kHighMemoryStart = 0x100000;

// RAM 0..0x9fc00, reserved 0x9fc00..1 MiB, RAM 1 MiB..below_4g, RAM above 4 GiB. The PCI hole
// (below_4g..4 GiB: BARs, IOAPIC, LAPIC, MSI window) is left out, so the guest sees it as free
// address space for devices rather than as RAM.
std::vector<E820Entry> pc_memory_map(const RamLayout& ram);

}  // namespace nahanni
