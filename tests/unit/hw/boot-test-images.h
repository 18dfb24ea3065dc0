// Synthesized kernels for the loader tests: a minimal ELF (32- or 64-bit) with PT_LOAD segments
// and the PVH note, and a bzImage whose setup header carries the fields the 64-bit entry needs.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "hw/i386/boot-image.h"

namespace nahanni::test {

struct ElfSegment {
  uint64_t paddr;
  std::vector<uint8_t> data;
  uint64_t memsz;  // >= data.size()
};

struct ElfSpec {
  bool is64 = true;
  std::vector<ElfSegment> segments;
  std::optional<uint64_t> pvh_entry;  // the Xen note, when set
  unsigned note_desc_size = 8;
  std::string note_name = "Xen";
  uint32_t note_type = 18;
};

inline void put(std::vector<uint8_t>& b, size_t off, uint64_t v, unsigned size) {
  if (b.size() < off + size) b.resize(off + size, 0);
  for (unsigned i = 0; i < size; ++i) b[off + i] = static_cast<uint8_t>(v >> (8 * i));
}

inline std::vector<uint8_t> make_elf(const ElfSpec& spec) {
  const bool w = spec.is64;
  const unsigned ehsize = w ? 64 : 52, phentsize = w ? 56 : 32;
  const unsigned phnum = static_cast<unsigned>(spec.segments.size()) + (spec.pvh_entry ? 1 : 0);
  std::vector<uint8_t> b(ehsize, 0);
  b[0] = 0x7f, b[1] = 'E', b[2] = 'L', b[3] = 'F';
  b[4] = w ? 2 : 1;  // class
  b[5] = 1;          // little-endian
  b[6] = 1;          // version
  put(b, 0x10, 2, 2);  // ET_EXEC
  put(b, 0x12, w ? 62 : 3, 2);
  put(b, 0x14, 1, 4);
  size_t phoff = ehsize;
  if (w) {
    put(b, 0x20, phoff, 8);
    put(b, 0x34, ehsize, 2), put(b, 0x36, phentsize, 2), put(b, 0x38, phnum, 2);
  } else {
    put(b, 0x1c, phoff, 4);
    put(b, 0x28, ehsize, 2), put(b, 0x2a, phentsize, 2), put(b, 0x2c, phnum, 2);
  }
  size_t data_off = phoff + phnum * phentsize;
  b.resize(data_off, 0);
  auto header = [&](unsigned i, uint32_t type, uint64_t off, uint64_t paddr, uint64_t filesz, uint64_t memsz) {
    size_t p = phoff + i * phentsize;
    put(b, p, type, 4);
    if (w) {
      put(b, p + 8, off, 8), put(b, p + 16, paddr | 0xffffffff80000000ull, 8), put(b, p + 24, paddr, 8);
      put(b, p + 32, filesz, 8), put(b, p + 40, memsz, 8);
    } else {
      put(b, p + 4, off, 4), put(b, p + 8, paddr, 4), put(b, p + 12, paddr, 4);
      put(b, p + 16, filesz, 4), put(b, p + 20, memsz, 4);
    }
  };
  unsigned i = 0;
  for (const ElfSegment& s : spec.segments) {
    size_t off = b.size();
    b.insert(b.end(), s.data.begin(), s.data.end());
    header(i++, 1, off, s.paddr, s.data.size(), s.memsz);
  }
  if (spec.pvh_entry) {
    // An unrelated note first, so the walk has to skip one.
    size_t off = b.size();
    put(b, off, 4, 4), put(b, off + 4, 4, 4), put(b, off + 8, 1, 4);
    put(b, off + 12, 0x00756e47, 4);  // "Gnu\0"
    put(b, off + 16, 0xdeadbeef, 4);
    size_t n = b.size();
    size_t namesz = spec.note_name.size() + 1, padded = (namesz + 3) & ~size_t{3};
    put(b, n, namesz, 4), put(b, n + 4, spec.note_desc_size, 4), put(b, n + 8, spec.note_type, 4);
    b.resize(n + 12 + padded, 0);
    std::memcpy(&b[n + 12], spec.note_name.c_str(), namesz);
    put(b, n + 12 + padded, *spec.pvh_entry, spec.note_desc_size);
    header(i++, 4, off, 0, b.size() - off, b.size() - off);
  }
  return b;
}

struct BzImageSpec {
  uint16_t version = 0x020f;
  uint8_t setup_sects = 3;
  uint16_t xloadflags = 0x7f;
  uint8_t loadflags = 0x01;
  uint64_t pref_address = 0x1000000;
  uint32_t init_size = 0x400000;
  uint32_t kernel_alignment = 0x200000;
  uint8_t relocatable = 1;
  uint32_t cmdline_size = 2047;
  uint32_t initrd_addr_max = 0x7fffffff;
  size_t payload_size = 0x3000;
};

inline std::vector<uint8_t> make_bzimage(const BzImageSpec& s) {
  std::vector<uint8_t> b((s.setup_sects + 1) * 512 + s.payload_size, 0);
  b[0x1f1] = s.setup_sects;
  put(b, 0x1fe, 0xaa55, 2);
  b[0x200] = 0xeb, b[0x201] = 0x6a;  // jmp: the header ends at 0x26c
  put(b, 0x202, 0x53726448, 4);
  put(b, 0x206, s.version, 2);
  put(b, 0x1fa, 0xffff, 2);  // vid_mode
  b[0x211] = s.loadflags;
  put(b, 0x22c, s.initrd_addr_max, 4);
  put(b, 0x230, s.kernel_alignment, 4);
  b[0x234] = s.relocatable;
  put(b, 0x236, s.xloadflags, 2);
  put(b, 0x238, s.cmdline_size, 4);
  put(b, 0x258, s.pref_address, 8);
  put(b, 0x260, s.init_size, 4);
  // A recognisable payload: byte i of the protected-mode kernel is (i * 7) & 0xff.
  size_t k = (s.setup_sects + 1) * 512;
  for (size_t i = 0; i < s.payload_size; ++i) b[k + i] = static_cast<uint8_t>(i * 7);
  return b;
}

}  // namespace nahanni::test
