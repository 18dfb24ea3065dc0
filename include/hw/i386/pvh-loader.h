// The PVH boot protocol (Xen's, which Linux and freestanding test guests implement): an ELF
// kernel whose note XEN_ELFNOTE_PHYS32_ENTRY gives a 32-bit entry point, started in flat 32-bit
// protected mode with paging off and EBX pointing at an hvm_start_info (command line, modules
// such as the initrd, and the memory map).
#pragma once

#include <optional>
#include <span>

#include "hw/i386/boot-image.h"
#include "hw/i386/kernel-loader.h"

namespace nahanni {

namespace pvh {
inline constexpr uint32_t kStartInfoMagic = 0x336ec578;
inline constexpr uint32_t kXenElfNotePhys32Entry = 18;
// struct hvm_start_info (version 1) field offsets, from Xen's public start_info.h.
inline constexpr size_t kMagic = 0, kVersion = 4, kFlags = 8, kNrModules = 12, kModlistPaddr = 16,
                        kCmdlinePaddr = 24, kRsdpPaddr = 32, kMemmapPaddr = 40, kMemmapEntries = 48,
                        kStartInfoSize = 56;
inline constexpr size_t kModlistEntrySize = 32;  // paddr, size, cmdline_paddr, reserved
inline constexpr size_t kMemmapEntrySize = 24;   // addr, size, type, reserved
inline constexpr uint64_t kModlistAddr = 0x6040;
inline constexpr uint64_t kMemmapAddr = 0x6080;
}  // namespace pvh

bool is_elf(std::span<const uint8_t> image);
// The PVH entry point from the ELF notes (PT_NOTE segments, else SHT_NOTE sections); nullopt
// without one. Errors for a malformed ELF.
Result<std::optional<uint64_t>> find_pvh_entry(std::span<const uint8_t> elf);
Result<BootImage> load_pvh_elf(const KernelInputs& in);

}  // namespace nahanni
