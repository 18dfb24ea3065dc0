// The register state a boot loader hands to the first vCPU: where and in which mode the kernel
// starts. Loaders (PVH, Linux bzImage) fill it after writing their tables into guest RAM; the
// accelerator (KVM) copies it into the vCPU's registers and special registers. Keeping it a plain
// value lets loaders be tested without KVM and lets the accelerator know nothing about formats.
#pragma once

#include <cstdint>

namespace nahanni {

// One segment register as the CPU caches it (base, limit, selector and the descriptor's
// attribute bits), the form KVM_SET_SREGS takes.
struct X86Segment {
  uint64_t base = 0;
  uint32_t limit = 0xffffffff;  // in bytes, already scaled when `granularity` is set
  uint16_t selector = 0;
  uint8_t type = 0;             // descriptor type: 0xb execute/read code (accessed), 0x3 read/write data
  bool present = true;
  uint8_t dpl = 0;
  bool default_big = false;     // D/B: 32-bit code or stack
  bool code_or_data = true;     // S: false for system segments (TSS, LDT)
  bool long_mode = false;       // L: 64-bit code
  bool granularity = true;      // G: limit counted in 4 KiB pages
  bool unusable = false;
};

struct X86CpuEntry {
  uint64_t rip = 0;
  uint64_t rsp = 0;
  uint64_t rsi = 0;  // Linux 64-bit entry: guest-physical address of boot_params
  uint64_t rbx = 0;  // PVH entry: guest-physical address of hvm_start_info
  uint64_t rflags = 0x2;

  uint64_t cr0 = 0;
  uint64_t cr3 = 0;
  uint64_t cr4 = 0;
  uint64_t efer = 0;

  uint64_t gdt_base = 0;
  uint16_t gdt_limit = 0;
  uint64_t idt_base = 0;
  uint16_t idt_limit = 0;

  X86Segment cs, ds, es, fs, gs, ss;
  X86Segment tr{.limit = 0x67, .type = 0xb, .code_or_data = false, .granularity = false};
  X86Segment ldt{.limit = 0xffff, .type = 0x2, .code_or_data = false, .granularity = false, .unusable = true};
};

}  // namespace nahanni
