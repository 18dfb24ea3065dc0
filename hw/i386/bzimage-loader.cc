#include "hw/i386/bzimage-loader.h"

#include <algorithm>

#include "hw/i386/boot-cpu.h"

namespace nahanni {

using namespace bzimage;

namespace {
constexpr uint64_t kPageMask = 0xfff;
constexpr uint64_t kFourGiB = 1ull << 32;

uint64_t align_up(uint64_t x, uint64_t a) { return a ? (x + a - 1) / a * a : x; }
}  // namespace

bool is_bzimage(std::span<const uint8_t> image) {
  return image.size() >= kHeader + 4 && get_le(image, kHeader, 4) == kHdrSMagic;
}

Result<BootImage> load_bzimage(const KernelInputs& in) {
  std::span<const uint8_t> k = in.kernel;
  if (!is_bzimage(k)) return Error("not a Linux bzImage (no \"HdrS\" setup header)");
  uint16_t version = static_cast<uint16_t>(get_le(k, kVersion, 2));
  if (version < kMinVersion || k.size() < kInitSize + 4)
    return Error::format("Linux boot protocol {}.{:02} is too old: the 64-bit entry needs 2.10 or later",
                         version >> 8, version & 0xff);
  if (!(get_le(k, kXloadflags, 2) & kXlfKernel64))
    return Error("the kernel has no 64-bit entry point (XLF_KERNEL_64 is not set in xloadflags)");
  if (!(k[kLoadflags] & kLoadedHigh)) return Error("the kernel is a zImage (not LOADED_HIGH); only bzImages are supported");

  uint64_t setup_sects = k[kSetupSects] ? k[kSetupSects] : 4;
  uint64_t kernel_offset = (setup_sects + 1) * 512;
  if (kernel_offset >= k.size()) return Error("bzImage truncated: no protected-mode kernel after the setup sectors");
  uint64_t payload = k.size() - kernel_offset;
  uint64_t init_size = std::max<uint64_t>(get_le(k, kInitSize, 4), payload);
  uint64_t alignment = get_le(k, kKernelAlignment, 4);
  bool relocatable = k[kRelocatableKernel] != 0;

  // The preferred address when it fits in low RAM; else, if relocatable, the lowest properly
  // aligned address from 1 MiB up.
  uint64_t load = get_le(k, kPrefAddress, 8);
  if (!in.ram.contains(load, init_size)) {
    if (!relocatable)
      return Error::format("the kernel must be loaded at 0x{:x} and needs 0x{:x} bytes there: too little RAM", load,
                           init_size);
    load = align_up(kHighMemoryStart, alignment);
    if (!in.ram.contains(load, init_size))
      return Error::format("the kernel needs 0x{:x} bytes of RAM from 0x{:x}: too little RAM", init_size, load);
  }
  auto body = k.subspan(kernel_offset);
  BootImage image;
  image.add("kernel", load, std::vector<uint8_t>(body.begin(), body.end()));

  // boot_params: zero, then the setup header as the file has it (0x1f1 up to the end the jump
  // at 0x200 points past), then the loader's fields.
  std::vector<uint8_t> bp(kBootParamsSize, 0);
  size_t header_end = std::min<size_t>(kJump + 2 + k[kJump + 1], kBootParamsSize);
  header_end = std::min(header_end, k.size());
  std::copy(k.begin() + kSetupSects, k.begin() + header_end, bp.begin() + kSetupSects);
  put_u8(bp, kTypeOfLoader, kTypeOfLoaderUndefined);

  uint64_t cmdline_max = std::min<uint64_t>(get_le(k, kCmdlineSize, 4), boot::kCmdlineMax - 1);
  if (in.cmdline.size() > cmdline_max)
    return Error::format("kernel command line too long ({} bytes, the kernel takes at most {})", in.cmdline.size(),
                         cmdline_max);
  std::vector<uint8_t> cmdline(in.cmdline.begin(), in.cmdline.end());
  cmdline.push_back(0);
  image.add("cmdline", boot::kCmdlineAddr, std::move(cmdline));
  put_u32(bp, kCmdLinePtr, static_cast<uint32_t>(boot::kCmdlineAddr));
  put_u32(bp, kExtCmdLinePtr, 0);

  if (in.initrd) {
    // As high as allowed: below initrd_addr_max and the top of low RAM, above the kernel's
    // whole decompression area.
    uint64_t size = in.initrd->size();
    uint64_t ceiling = std::min<uint64_t>(uint64_t{get_le(k, kInitrdAddrMax, 4)} + 1, in.ram.below_4g);
    uint64_t floor = align_up(load + init_size, 0x1000);
    uint64_t room = ceiling > floor ? ceiling - floor : 0;
    if (size > room) return Error::format("initrd is too large, cannot support.(max: {}, need {})", room, size);
    uint64_t addr = (ceiling - size) & ~kPageMask;
    image.add("initrd", addr, std::vector<uint8_t>(in.initrd->begin(), in.initrd->end()));
    put_u32(bp, kRamdiskImage, static_cast<uint32_t>(addr));
    put_u32(bp, kRamdiskSize, static_cast<uint32_t>(size));
    put_u32(bp, kExtRamdiskImage, static_cast<uint32_t>(addr >> 32));
    put_u32(bp, kExtRamdiskSize, static_cast<uint32_t>(size >> 32));
  }

  std::vector<E820Entry> map = pc_memory_map(in.ram);
  if (map.size() > kE820MaxEntries) map.resize(kE820MaxEntries);
  put_u8(bp, kE820Entries, static_cast<uint8_t>(map.size()));
  for (size_t i = 0; i < map.size(); ++i) {
    put_u64(bp, kE820Table + 20 * i, map[i].addr);
    put_u64(bp, kE820Table + 20 * i + 8, map[i].size);
    put_u32(bp, kE820Table + 20 * i + 16, map[i].type);
  }
  image.add("boot_params", boot::kBootParamsAddr, std::move(bp));

  boot::add_gdt(image, boot::CodeMode::Long64);
  boot::add_identity_page_tables(image);
  // The identity map covers 4 GiB: the kernel's decompression area, boot_params, command line
  // and initrd all lie below it.
  if (load + init_size > kFourGiB) return Error("the kernel would extend beyond the identity-mapped 4 GiB");
  image.entry = boot::entry_state(boot::CodeMode::Long64, load + kEntry64Offset);
  image.entry.rsi = boot::kBootParamsAddr;
  return image;
}

}  // namespace nahanni
