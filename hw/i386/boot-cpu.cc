#include "hw/i386/boot-cpu.h"

namespace nahanni::boot {

namespace {
// Descriptor flag words: access byte in bits 0-7, then the G, D/B, L, AVL nibble in bits 12-15.
constexpr uint16_t kCode32Flags = 0xc09b;  // G, D; present, code, execute/read, accessed
constexpr uint16_t kCode64Flags = 0xa09b;  // G, L
constexpr uint16_t kDataFlags = 0xc093;    // G, B; present, data, read/write, accessed
constexpr uint16_t kTssFlags = 0x008b;     // present, busy 32-bit TSS
constexpr uint32_t kTssLimit = 0x67;
constexpr uint64_t kPageTableFlags = 0x3;  // present, writable
constexpr uint64_t kLargePageFlags = 0x83; // present, writable, 2 MiB page
constexpr int kPageDirectories = 4;

X86Segment flat_segment(uint16_t selector, uint8_t type, bool big, bool long_mode) {
  return X86Segment{.base = 0, .limit = 0xffffffff, .selector = selector, .type = type, .present = true, .dpl = 0,
                    .default_big = big, .code_or_data = true, .long_mode = long_mode, .granularity = true};
}
}  // namespace

uint64_t segment_descriptor(uint32_t base, uint32_t limit, uint16_t flags) {
  return (uint64_t{limit} & 0xffff) | (uint64_t{base} & 0xffffff) << 16 | uint64_t(flags & 0xff) << 40 |
         (uint64_t{limit} >> 16 & 0xf) << 48 | uint64_t(flags >> 12 & 0xf) << 52 | (uint64_t{base} >> 24) << 56;
}

void add_gdt(BootImage& image, CodeMode mode) {
  std::vector<uint8_t> gdt(5 * 8, 0);
  put_u64(gdt, kCodeSelector, segment_descriptor(0, 0xfffff, mode == CodeMode::Long64 ? kCode64Flags : kCode32Flags));
  put_u64(gdt, kDataSelector, segment_descriptor(0, 0xfffff, kDataFlags));
  put_u64(gdt, kTssSelector, segment_descriptor(0, kTssLimit, kTssFlags));
  image.add("gdt", kGdtAddr, std::move(gdt));
}

void add_identity_page_tables(BootImage& image) {
  constexpr uint64_t kPdpt = kPml4Addr + 0x1000, kFirstPd = kPml4Addr + 0x2000;
  std::vector<uint8_t> tables((2 + kPageDirectories) * 0x1000, 0);
  put_u64(tables, 0, kPdpt | kPageTableFlags);
  for (int i = 0; i < kPageDirectories; ++i) {
    put_u64(tables, 0x1000 + 8 * i, (kFirstPd + 0x1000 * i) | kPageTableFlags);
    for (int j = 0; j < 512; ++j) {
      uint64_t addr = (uint64_t(i) << 30) | (uint64_t(j) << 21);
      put_u64(tables, 0x2000 + 0x1000 * i + 8 * j, addr | kLargePageFlags);
    }
  }
  image.add("page_tables", kPml4Addr, std::move(tables));
}

X86CpuEntry entry_state(CodeMode mode, uint64_t rip) {
  bool long_mode = mode == CodeMode::Long64;
  X86CpuEntry e;
  e.rip = rip;
  e.rsp = kStackTop;
  e.rflags = 0x2;  // IF clear
  e.cr0 = kCr0Pe | kCr0Et | (long_mode ? kCr0Ne | kCr0Pg : 0);
  e.cr4 = long_mode ? kCr4Pae : 0;
  e.cr3 = long_mode ? kPml4Addr : 0;
  e.efer = long_mode ? kEferLme | kEferLma : 0;
  e.gdt_base = kGdtAddr;
  e.gdt_limit = 5 * 8 - 1;
  e.cs = flat_segment(kCodeSelector, 0xb, !long_mode, long_mode);
  e.ds = e.es = e.fs = e.gs = e.ss = flat_segment(kDataSelector, 0x3, true, false);
  e.tr = X86Segment{.base = 0, .limit = kTssLimit, .selector = kTssSelector, .type = 0xb, .present = true,
                    .code_or_data = false, .granularity = false};
  return e;
}

}  // namespace nahanni::boot
