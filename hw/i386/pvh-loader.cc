#include "hw/i386/pvh-loader.h"

#include <algorithm>
#include <cstring>

#include "hw/i386/boot-cpu.h"

namespace nahanni {

namespace {

constexpr uint32_t kPtLoad = 1, kPtNote = 4, kShtNote = 7;
constexpr uint16_t kEm386 = 3, kEmX86_64 = 62;
constexpr uint64_t kPageMask = 0xfff;

// The ELF header and table fields both classes share, read once.
struct ElfView {
  std::span<const uint8_t> bytes;
  bool is64 = false;
  uint64_t phoff = 0, shoff = 0;
  unsigned phentsize = 0, phnum = 0, shentsize = 0, shnum = 0;

  uint64_t field(size_t off, unsigned size) const { return get_le(bytes, off, size); }
};

struct Segment {
  uint32_t type = 0;
  uint64_t offset = 0, paddr = 0, filesz = 0, memsz = 0;
};

Result<ElfView> parse_header(std::span<const uint8_t> b) {
  if (!is_elf(b)) return Error("not an ELF file");
  ElfView v{.bytes = b};
  if (b.size() < 0x34) return Error("ELF header truncated");
  if (b[4] != 1 && b[4] != 2) return Error::format("unsupported ELF class {}", b[4]);
  if (b[5] != 1) return Error("ELF file is not little-endian");
  v.is64 = b[4] == 2;
  if (v.is64 && b.size() < 0x40) return Error("ELF header truncated");
  uint16_t machine = static_cast<uint16_t>(v.field(0x12, 2));
  if (machine != kEm386 && machine != kEmX86_64) return Error::format("ELF machine {} is not x86", machine);
  if (v.is64) {
    v.phoff = v.field(0x20, 8), v.shoff = v.field(0x28, 8);
    v.phentsize = v.field(0x36, 2), v.phnum = v.field(0x38, 2), v.shentsize = v.field(0x3a, 2), v.shnum = v.field(0x3c, 2);
  } else {
    v.phoff = v.field(0x1c, 4), v.shoff = v.field(0x20, 4);
    v.phentsize = v.field(0x2a, 2), v.phnum = v.field(0x2c, 2), v.shentsize = v.field(0x2e, 2), v.shnum = v.field(0x30, 2);
  }
  unsigned min_ph = v.is64 ? 56 : 32, min_sh = v.is64 ? 64 : 40;
  if (v.phnum && (v.phentsize < min_ph || v.phoff > b.size() || uint64_t{v.phnum} * v.phentsize > b.size() - v.phoff))
    return Error("ELF program headers lie outside the file");
  if (v.shnum && (v.shentsize < min_sh || v.shoff > b.size() || uint64_t{v.shnum} * v.shentsize > b.size() - v.shoff))
    v.shnum = 0;  // section headers are optional for loading; ignore broken ones
  return v;
}

Segment program_header(const ElfView& v, unsigned i) {
  size_t p = v.phoff + size_t{i} * v.phentsize;
  Segment s;
  s.type = static_cast<uint32_t>(v.field(p, 4));
  if (v.is64) {
    s.offset = v.field(p + 8, 8), s.paddr = v.field(p + 24, 8), s.filesz = v.field(p + 32, 8), s.memsz = v.field(p + 40, 8);
  } else {
    s.offset = v.field(p + 4, 4), s.paddr = v.field(p + 12, 4), s.filesz = v.field(p + 16, 4), s.memsz = v.field(p + 20, 4);
  }
  return s;
}

bool in_file(const ElfView& v, uint64_t offset, uint64_t size) {
  return offset <= v.bytes.size() && size <= v.bytes.size() - offset;
}

// Walks one note area; returns the PVH entry if present.
std::optional<uint64_t> scan_notes(std::span<const uint8_t> notes) {
  size_t pos = 0;
  auto align4 = [](uint64_t x) { return (x + 3) & ~uint64_t{3}; };
  while (pos + 12 <= notes.size()) {
    uint64_t namesz = get_le(notes, pos, 4), descsz = get_le(notes, pos + 4, 4), type = get_le(notes, pos + 8, 4);
    uint64_t name_off = pos + 12, desc_off = name_off + align4(namesz);
    if (desc_off > notes.size() || align4(descsz) > notes.size() - desc_off) break;
    bool xen = namesz == 4 && std::memcmp(notes.data() + name_off, "Xen", 4) == 0;
    if (xen && type == pvh::kXenElfNotePhys32Entry && (descsz == 4 || descsz == 8))
      return get_le(notes, desc_off, static_cast<unsigned>(descsz));
    pos = desc_off + align4(descsz);
  }
  return std::nullopt;
}

}  // namespace

bool is_elf(std::span<const uint8_t> image) {
  return image.size() >= 4 && image[0] == 0x7f && image[1] == 'E' && image[2] == 'L' && image[3] == 'F';
}

Result<std::optional<uint64_t>> find_pvh_entry(std::span<const uint8_t> elf) {
  NN_ASSIGN_OR_RETURN(ElfView v, parse_header(elf));
  for (unsigned i = 0; i < v.phnum; ++i) {
    Segment s = program_header(v, i);
    if (s.type != kPtNote || !in_file(v, s.offset, s.filesz)) continue;
    if (auto entry = scan_notes(elf.subspan(s.offset, s.filesz))) return entry;
  }
  for (unsigned i = 0; i < v.shnum; ++i) {
    size_t p = v.shoff + size_t{i} * v.shentsize;
    if (v.field(p + 4, 4) != kShtNote) continue;
    uint64_t off = v.is64 ? v.field(p + 24, 8) : v.field(p + 16, 4);
    uint64_t size = v.is64 ? v.field(p + 32, 8) : v.field(p + 20, 4);
    if (!in_file(v, off, size)) continue;
    if (auto entry = scan_notes(elf.subspan(off, size))) return entry;
  }
  return std::optional<uint64_t>{};
}

Result<BootImage> load_pvh_elf(const KernelInputs& in) {
  NN_ASSIGN_OR_RETURN(ElfView v, parse_header(in.kernel));
  NN_ASSIGN_OR_RETURN(std::optional<uint64_t> entry, find_pvh_entry(in.kernel));
  if (!entry) return Error("the ELF kernel has no PVH entry point (Xen note XEN_ELFNOTE_PHYS32_ENTRY)");
  if (*entry >= (1ull << 32)) return Error::format("PVH entry point 0x{:x} is not a 32-bit address", *entry);

  BootImage image;
  uint64_t kernel_end = 0;
  for (unsigned i = 0; i < v.phnum; ++i) {
    Segment s = program_header(v, i);
    if (s.type != kPtLoad || s.memsz == 0) continue;
    if (s.filesz > s.memsz || !in_file(v, s.offset, s.filesz))
      return Error::format("ELF segment {} lies outside the file", i);
    if (!in.ram.contains(s.paddr, s.memsz))
      return Error::format("ELF segment {} at 0x{:x}+0x{:x} is outside guest RAM (0x{:x} bytes below 4 GiB)", i,
                           s.paddr, s.memsz, in.ram.below_4g);
    auto data = in.kernel.subspan(s.offset, s.filesz);
    image.add("segment" + std::to_string(i), s.paddr, std::vector<uint8_t>(data.begin(), data.end()), s.memsz);
    if (s.paddr < (1ull << 32)) kernel_end = std::max(kernel_end, s.paddr + s.memsz);
  }
  if (image.blobs.empty()) return Error("the ELF kernel has no loadable segment");

  if (in.cmdline.size() >= boot::kCmdlineMax)
    return Error::format("kernel command line too long ({} bytes, at most {})", in.cmdline.size(), boot::kCmdlineMax - 1);
  std::vector<uint8_t> cmdline(in.cmdline.begin(), in.cmdline.end());
  cmdline.push_back(0);
  image.add("cmdline", boot::kCmdlineAddr, std::move(cmdline));

  std::vector<E820Entry> map = pc_memory_map(in.ram);
  std::vector<uint8_t> info(0x1000, 0);
  put_u32(info, pvh::kMagic, pvh::kStartInfoMagic);
  put_u32(info, pvh::kVersion, 1);
  put_u64(info, pvh::kCmdlinePaddr, boot::kCmdlineAddr);
  put_u64(info, pvh::kMemmapPaddr, pvh::kMemmapAddr);
  put_u32(info, pvh::kMemmapEntries, static_cast<uint32_t>(map.size()));
  for (size_t i = 0; i < map.size(); ++i) {
    size_t off = pvh::kMemmapAddr - boot::kStartInfoAddr + i * pvh::kMemmapEntrySize;
    put_u64(info, off, map[i].addr);
    put_u64(info, off + 8, map[i].size);
    put_u32(info, off + 16, map[i].type);
  }
  if (in.initrd) {
    // As high in low RAM as it fits, page-aligned, above the kernel.
    uint64_t size = in.initrd->size();
    uint64_t floor = std::max<uint64_t>((kernel_end + kPageMask) & ~kPageMask, kHighMemoryStart);
    uint64_t room = in.ram.below_4g > floor ? in.ram.below_4g - floor : 0;
    if (size > room) return Error::format("initrd is too large, cannot support.(max: {}, need {})", room, size);
    uint64_t addr = (in.ram.below_4g - size) & ~kPageMask;
    image.add("initrd", addr, std::vector<uint8_t>(in.initrd->begin(), in.initrd->end()));
    put_u32(info, pvh::kNrModules, 1);
    put_u64(info, pvh::kModlistPaddr, pvh::kModlistAddr);
    size_t mod = pvh::kModlistAddr - boot::kStartInfoAddr;
    put_u64(info, mod, addr);
    put_u64(info, mod + 8, size);
  }
  image.add("start_info", boot::kStartInfoAddr, std::move(info));
  boot::add_gdt(image, boot::CodeMode::Protected32);
  image.entry = boot::entry_state(boot::CodeMode::Protected32, *entry);
  image.entry.rbx = boot::kStartInfoAddr;
  return image;
}

}  // namespace nahanni
