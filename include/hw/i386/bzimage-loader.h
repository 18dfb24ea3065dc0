// The Linux/x86 boot protocol's 64-bit entry for a bzImage (Documentation/arch/x86/boot.rst):
// the protected-mode kernel at its preferred address, boot_params (the "zero page") holding a
// copy of the setup header, the e820 map, command line and initrd, then entry in long mode with
// identity-mapped page tables at load address + 0x200 and RSI = boot_params. No real-mode setup
// code runs, so no BIOS is needed.
#pragma once

#include <span>

#include "hw/i386/boot-image.h"
#include "hw/i386/kernel-loader.h"

namespace nahanni {

namespace bzimage {
// Setup header field offsets in the file and in boot_params (the same numbers).
inline constexpr size_t kSetupSects = 0x1f1, kBootFlag = 0x1fe, kJump = 0x200, kHeader = 0x202, kVersion = 0x206,
                        kTypeOfLoader = 0x210, kLoadflags = 0x211, kRamdiskImage = 0x218, kRamdiskSize = 0x21c,
                        kCmdLinePtr = 0x228, kInitrdAddrMax = 0x22c, kKernelAlignment = 0x230,
                        kRelocatableKernel = 0x234, kXloadflags = 0x236, kCmdlineSize = 0x238, kPrefAddress = 0x258,
                        kInitSize = 0x260;
// boot_params fields outside the setup header.
inline constexpr size_t kExtRamdiskImage = 0x0c0, kExtRamdiskSize = 0x0c4, kExtCmdLinePtr = 0x0c8,
                        kE820Entries = 0x1e8, kE820Table = 0x2d0, kBootParamsSize = 0x1000;
inline constexpr size_t kE820MaxEntries = 128;
inline constexpr uint32_t kHdrSMagic = 0x53726448;  // "HdrS"
inline constexpr uint16_t kMinVersion = 0x020a;     // 2.10: pref_address, init_size, relocation
inline constexpr uint16_t kXlfKernel64 = 1 << 0;
inline constexpr uint8_t kLoadedHigh = 1 << 0;
inline constexpr uint8_t kTypeOfLoaderUndefined = 0xff;
inline constexpr uint64_t kEntry64Offset = 0x200;
}  // namespace bzimage

// True when the image carries the "HdrS" setup header.
bool is_bzimage(std::span<const uint8_t> image);
Result<BootImage> load_bzimage(const KernelInputs& in);

}  // namespace nahanni
