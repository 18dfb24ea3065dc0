// QEMU's firmware configuration device, I/O interface: selector at 0x510 (16-bit), data at
// 0x511 (bytes, sequential). Enough for the keys test suites read (signature, RAM size).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "system/memory.h"

namespace nahanni {

class FwCfg {
 public:
  static constexpr uint16_t kSignature = 0x0000, kId = 0x0001, kRamSize = 0x0003, kNbCpus = 0x0005,
                            kFileDir = 0x0019;
  static constexpr uint16_t kPortSelector = 0x510, kPortData = 0x511;

  FwCfg();
  void add_bytes(uint16_t key, std::vector<uint8_t> data) { entries_[key] = std::move(data); }
  void add_u16(uint16_t key, uint16_t v);
  void add_u32(uint16_t key, uint32_t v);
  void add_u64(uint16_t key, uint64_t v);
  MemoryRegion* region() { return region_.get(); }

 private:
  uint64_t read(uint64_t offset, unsigned size);
  void write(uint64_t offset, uint64_t value, unsigned size);

  std::map<uint16_t, std::vector<uint8_t>> entries_;
  uint16_t selected_ = 0;
  size_t cursor_ = 0;
  std::unique_ptr<MemoryRegion> region_;
};

}  // namespace nahanni
