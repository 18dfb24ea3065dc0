// X86CpuEntry values for hand-made guests in the three modes, and the page tables and GDT a
// 32-bit or 64-bit guest needs in RAM.
#pragma once

#include <cstdint>
#include <cstring>

#include "hw/i386/x86-cpu-entry.h"

namespace nahanni::test {

inline constexpr uint64_t kGdtAddress = 0x2000;
inline constexpr uint64_t kIdtAddress = 0x3000;
inline constexpr uint64_t kPml4Address = 0x10000;  // then PDPT, then four page directories
inline constexpr uint64_t kCr0Pe = 1, kCr0Et = 1u << 4, kCr0Pg = 1u << 31;
inline constexpr uint64_t kCr4Pae = 1u << 5;
inline constexpr uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;

// Real mode at 0000:ip.
inline X86CpuEntry real_mode_entry(uint16_t ip) {
  X86CpuEntry e;
  X86Segment seg{.base = 0, .limit = 0xffff, .selector = 0, .type = 0x3, .granularity = false};
  e.ds = e.es = e.fs = e.gs = e.ss = seg;
  e.cs = seg;
  e.cs.type = 0xb;
  e.cr0 = kCr0Et;
  e.rip = ip;
  e.rsp = 0x7000;
  e.idt_limit = 0x3ff;  // the real-mode IVT at 0
  return e;
}

// GDT: 0x08 32-bit code, 0x10 data, 0x18 64-bit code.
inline void write_gdt(uint8_t* ram) {
  const uint64_t gdt[] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull, 0x00af9a000000ffffull};
  std::memcpy(ram + kGdtAddress, gdt, sizeof gdt);
}

// Flat 32-bit protected mode, no paging.
inline X86CpuEntry protected_mode_entry(uint8_t* ram, uint32_t eip) {
  write_gdt(ram);
  X86CpuEntry e;
  X86Segment data{.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3, .default_big = true};
  e.ds = e.es = e.fs = e.gs = e.ss = data;
  e.cs = X86Segment{.base = 0, .limit = 0xffffffff, .selector = 0x08, .type = 0xb, .default_big = true};
  e.gdt_base = kGdtAddress;
  e.gdt_limit = 31;
  e.cr0 = kCr0Pe | kCr0Et;
  e.rip = eip;
  e.rsp = 0x7000;
  return e;
}

// 64-bit long mode with the first 4 GiB identity-mapped by 2 MiB pages.
inline X86CpuEntry long_mode_entry(uint8_t* ram, uint64_t rip) {
  write_gdt(ram);
  auto* pml4 = reinterpret_cast<uint64_t*>(ram + kPml4Address);
  auto* pdpt = reinterpret_cast<uint64_t*>(ram + kPml4Address + 0x1000);
  std::memset(pml4, 0, 6 * 0x1000);
  pml4[0] = (kPml4Address + 0x1000) | 3;
  for (uint64_t g = 0; g < 4; ++g) {
    uint64_t pd_address = kPml4Address + 0x2000 + g * 0x1000;
    pdpt[g] = pd_address | 3;
    auto* pd = reinterpret_cast<uint64_t*>(ram + pd_address);
    for (uint64_t i = 0; i < 512; ++i) pd[i] = ((g << 30) + (i << 21)) | 0x83;  // present, writable, 2 MiB
  }
  X86CpuEntry e;
  X86Segment data{.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3, .default_big = true};
  e.ds = e.es = e.fs = e.gs = e.ss = data;
  e.cs = X86Segment{.base = 0, .limit = 0xffffffff, .selector = 0x18, .type = 0xb, .long_mode = true};
  e.gdt_base = kGdtAddress;
  e.gdt_limit = 31;
  e.cr0 = kCr0Pe | kCr0Et | kCr0Pg;
  e.cr3 = kPml4Address;
  e.cr4 = kCr4Pae;
  e.efer = kEferLme | kEferLma;
  e.rip = rip;
  e.rsp = 0x7000;
  return e;
}

}  // namespace nahanni::test
