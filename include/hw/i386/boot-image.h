// What a boot loader produces: the bytes to place in guest RAM (kernel segments, tables, initrd,
// command line) and the state of the first vCPU. The machine writes it into RAM at start-up and
// again on every reset, so a rebooted guest starts from the same image; loaders never touch RAM
// themselves, which keeps them testable on plain buffers.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "hw/i386/e820.h"
#include "hw/i386/x86-cpu-entry.h"
#include "util/error.h"

namespace nahanni {

struct BootBlob {
  std::string name;            // for messages and tests: "kernel", "initrd", "boot_params"
  uint64_t addr = 0;           // guest-physical
  std::vector<uint8_t> data;
  uint64_t size = 0;           // >= data.size(); the rest is zero-filled (ELF .bss)
};

struct BootImage {
  std::vector<BootBlob> blobs;
  X86CpuEntry entry;

  BootBlob& add(std::string name, uint64_t addr, std::vector<uint8_t> data, uint64_t size = 0);
  // The blob called `name`, or nullptr.
  const BootBlob* find(std::string_view name) const;
  // "NAME at 0xA+0xS is outside guest RAM" for the first blob RAM cannot hold.
  Status check_fits(const RamLayout& ram) const;
  // Copies every blob into `ram_host`, the host mapping of RAM laid out as `ram` (low part
  // first, then the part above 4 GiB, as PcMachine maps it).
  void write_to(const RamLayout& ram, uint8_t* ram_host) const;
};

// Little-endian stores into a table under construction.
inline void put_u8(std::vector<uint8_t>& b, size_t off, uint8_t v) { b.at(off) = v; }
inline void put_u16(std::vector<uint8_t>& b, size_t off, uint16_t v) {
  for (int i = 0; i < 2; ++i) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u32(std::vector<uint8_t>& b, size_t off, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}
inline void put_u64(std::vector<uint8_t>& b, size_t off, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.at(off + i) = static_cast<uint8_t>(v >> (8 * i));
}
inline uint64_t get_le(std::span<const uint8_t> b, size_t off, unsigned bytes) {
  uint64_t v = 0;
  for (unsigned i = 0; i < bytes; ++i) v |= uint64_t{b[off + i]} << (8 * i);
  return v;
}

}  // namespace nahanni
