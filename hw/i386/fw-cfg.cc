#include "hw/i386/fw-cfg.h"

namespace nahanni {

FwCfg::FwCfg() {
  add_bytes(kSignature, {'Q', 'E', 'M', 'U'});
  add_u32(kId, 1);  // traditional interface only, no DMA
  add_u32(kFileDir, 0);  // an empty file directory (count, big-endian zero)
  region_ = MemoryRegion::io("fw_cfg", 2,
                             MemoryRegionOps{.read = [this](uint64_t o, unsigned s) { return read(o, s); },
                                             .write = [this](uint64_t o, uint64_t v, unsigned s) { write(o, v, s); },
                                             .min_access = 1,
                                             .max_access = 2});
}

void FwCfg::add_u16(uint16_t key, uint16_t v) { add_bytes(key, {static_cast<uint8_t>(v), static_cast<uint8_t>(v >> 8)}); }

void FwCfg::add_u32(uint16_t key, uint32_t v) {
  std::vector<uint8_t> b(4);
  for (int i = 0; i < 4; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  add_bytes(key, std::move(b));
}

void FwCfg::add_u64(uint16_t key, uint64_t v) {
  std::vector<uint8_t> b(8);
  for (int i = 0; i < 8; ++i) b[i] = static_cast<uint8_t>(v >> (8 * i));
  add_bytes(key, std::move(b));
}

uint64_t FwCfg::read(uint64_t offset, unsigned size) {
  if (offset != 1) return 0;  // the selector port reads as 0
  uint64_t v = 0;
  auto it = entries_.find(selected_);
  for (unsigned i = 0; i < size; ++i) {
    uint8_t byte = 0;
    if (it != entries_.end() && cursor_ < it->second.size()) byte = it->second[cursor_++];
    v |= static_cast<uint64_t>(byte) << (8 * i);
  }
  return v;
}

void FwCfg::write(uint64_t offset, uint64_t value, unsigned size) {
  if (offset == 0 && size == 2) {
    selected_ = static_cast<uint16_t>(value);
    cursor_ = 0;
  }
}

}  // namespace nahanni
