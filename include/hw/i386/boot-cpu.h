// The CPU environment the loaders build without firmware: where their tables go in low RAM, a
// flat GDT, identity page tables, and the entry register state for 32-bit protected mode (PVH)
// and 64-bit long mode (the Linux 64-bit boot protocol).
#pragma once

#include <cstdint>

#include "hw/i386/boot-image.h"

namespace nahanni::boot {

// Guest-physical layout below 1 MiB (all in e820 RAM, below the EBDA, except the MP table
// which sits in the reserved BIOS area where guests scan for it).
inline constexpr uint64_t kGdtAddr = 0x500;
inline constexpr uint64_t kStartInfoAddr = 0x6000;  // PVH hvm_start_info, module list, memory map
inline constexpr uint64_t kBootParamsAddr = 0x7000;  // Linux zero page
inline constexpr uint64_t kPml4Addr = 0x9000;        // then the PDPT and four page directories
inline constexpr uint64_t kCmdlineAddr = 0x20000;
inline constexpr uint64_t kCmdlineMax = 0x10000;     // up to 0x30000
inline constexpr uint64_t kMpTableAddr = 0xf0000;
inline constexpr uint64_t kStackTop = 0x8ff0;        // below the page tables; kernels set their own

// GDT selectors: Linux's boot protocol requires __BOOT_CS 0x10 and __BOOT_DS 0x18.
inline constexpr uint16_t kCodeSelector = 0x10;
inline constexpr uint16_t kDataSelector = 0x18;
inline constexpr uint16_t kTssSelector = 0x20;

inline constexpr uint64_t kCr0Pe = 1ull << 0, kCr0Et = 1ull << 4, kCr0Ne = 1ull << 5, kCr0Pg = 1ull << 31;
inline constexpr uint64_t kCr4Pae = 1ull << 5;
inline constexpr uint64_t kEferLme = 1ull << 8, kEferLma = 1ull << 10;

enum class CodeMode { Protected32, Long64 };

// A GDT of null, null, code (0x10), data (0x18) and a TSS descriptor (0x20), all flat over 4 GiB.
void add_gdt(BootImage& image, CodeMode mode);
// PML4, PDPT and four page directories of 2 MiB pages: the first 4 GiB identity-mapped.
void add_identity_page_tables(BootImage& image);
// Registers for entry at `rip`: segments loaded from the GDT above, paging off (Protected32) or
// long mode with CR3 = the identity tables (Long64), interrupts off.
X86CpuEntry entry_state(CodeMode mode, uint64_t rip);

// An 8-byte segment descriptor.
uint64_t segment_descriptor(uint32_t base, uint32_t limit, uint16_t flags);

}  // namespace nahanni::boot
