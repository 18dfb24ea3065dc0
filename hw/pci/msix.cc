#include "hw/pci/msix.h"

#include <fmt/format.h>

#include "hw/core/machine.h"

namespace nahanni {
namespace {

constexpr uint16_t kControlTableSizeMask = 0x7ff;
constexpr uint16_t kControlFunctionMask = 0x4000;
constexpr uint16_t kControlEnable = 0x8000;
constexpr uint32_t kEntryMaskBit = 0x1;
constexpr unsigned kCapSize = 12;

uint64_t round_up_pow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

}  // namespace

Msix::Msix(PciDevice& dev, unsigned vectors, int bar) : dev_(dev), vectors_(vectors) {
  uint64_t table_size = uint64_t{vectors} * kEntrySize;
  uint64_t pba_size = (uint64_t{vectors} + 63) / 64 * 8;
  // Up to 128 vectors: table in the first half of a 4 KiB BAR, PBA at 2 KiB, as QEMU lays it out.
  pba_offset_ = vectors <= 128 ? 2048 : table_size;
  uint64_t bar_size = std::max<uint64_t>(4096, round_up_pow2(pba_offset_ + pba_size));
  table_.assign(table_size, 0);
  pba_.assign(pba_size, 0);

  bar_ = MemoryRegion::container("msix", bar_size);
  table_region_ = MemoryRegion::io(
      "msix-table", table_size,
      MemoryRegionOps{.read = [this](uint64_t off, unsigned size) -> uint64_t {
                        uint64_t v = table_read32(static_cast<unsigned>(off & ~3ull));
                        if (size == 8) v |= static_cast<uint64_t>(table_read32(static_cast<unsigned>(off + 4))) << 32;
                        return v >> (8 * (off & 3));
                      },
                      .write = [this](uint64_t off, uint64_t v, unsigned size) { table_write(off, v, size); },
                      .min_access = 4,
                      .max_access = 8});
  pba_region_ = MemoryRegion::io(
      "msix-pba", pba_size,
      MemoryRegionOps{.read = [this](uint64_t off, unsigned size) -> uint64_t {
                        uint64_t v = 0;
                        for (unsigned i = 0; i < size && off + i < pba_.size(); ++i)
                          v |= static_cast<uint64_t>(pba_[off + i]) << (8 * i);
                        return v;
                      },
                      .write = [](uint64_t, uint64_t, unsigned) {},  // read-only
                      .min_access = 4,
                      .max_access = 8});
  bar_->add_subregion(0, table_region_.get());
  bar_->add_subregion(pba_offset_, pba_region_.get());

  cap_ = dev_.add_capability(pci::kCapIdMsix, kCapSize);
  dev_.set16(cap_ + 2, static_cast<uint16_t>((vectors - 1) & kControlTableSizeMask));
  dev_.set32(cap_ + 4, static_cast<uint32_t>(bar));  // table at offset 0
  dev_.set32(cap_ + 8, static_cast<uint32_t>(pba_offset_) | static_cast<uint32_t>(bar));
  dev_.wmask_[cap_ + 3] = static_cast<uint8_t>((kControlFunctionMask | kControlEnable) >> 8);

  deliver_ = [](uint64_t address, uint32_t data) {
    if (Machine* m = current_machine(); m && m->memory()) m->memory()->write_value(address, data, 4);
  };
  reset();
}

Msix::~Msix() {
  bar_->del_subregion(table_region_.get());
  bar_->del_subregion(pba_region_.get());
}

bool Msix::enabled() const { return dev_.get16(cap_ + 2) & kControlEnable; }
bool Msix::function_masked() const { return dev_.get16(cap_ + 2) & kControlFunctionMask; }

uint32_t Msix::table_read32(unsigned offset) const {
  if (offset + 4 > table_.size()) return 0;
  return table_[offset] | (table_[offset + 1] << 8) | (table_[offset + 2] << 16) |
         (static_cast<uint32_t>(table_[offset + 3]) << 24);
}

bool Msix::vector_masked(unsigned vector) const {
  if (vector >= vectors_) return true;
  return !enabled() || function_masked() || (table_read32(vector * kEntrySize + 12) & kEntryMaskBit);
}

bool Msix::pending(unsigned vector) const {
  return vector < vectors_ && (pba_[vector / 8] >> (vector % 8)) & 1;
}

uint64_t Msix::address(unsigned vector) const {
  return table_read32(vector * kEntrySize) | (static_cast<uint64_t>(table_read32(vector * kEntrySize + 4)) << 32);
}

uint32_t Msix::data(unsigned vector) const { return table_read32(vector * kEntrySize + 8); }

void Msix::set_pending(unsigned vector, bool on) {
  uint8_t bit = static_cast<uint8_t>(1u << (vector % 8));
  pba_[vector / 8] = on ? (pba_[vector / 8] | bit) : (pba_[vector / 8] & ~bit);
}

void Msix::notify(unsigned vector) {
  if (vector >= vectors_) return;
  if (vector_masked(vector)) {
    set_pending(vector, true);
    return;
  }
  deliver_(address(vector), data(vector));
}

void Msix::deliver_pending() {
  for (unsigned v = 0; v < vectors_; ++v) {
    if (pending(v) && !vector_masked(v)) {
      set_pending(v, false);
      deliver_(address(v), data(v));
    }
  }
}

void Msix::table_write(uint64_t offset, uint64_t value, unsigned size) {
  for (unsigned i = 0; i < size && offset + i < table_.size(); ++i)
    table_[offset + i] = static_cast<uint8_t>(value >> (8 * i));
  unsigned first = static_cast<unsigned>(offset / kEntrySize);
  unsigned last = static_cast<unsigned>((offset + size - 1) / kEntrySize);
  for (unsigned v = first; v <= last && v < vectors_; ++v) {
    if (vector_changed_) vector_changed_(v);
    if (pending(v) && !vector_masked(v)) {
      set_pending(v, false);
      deliver_(address(v), data(v));
    }
  }
}

void Msix::config_written(uint32_t offset, unsigned len) {
  uint32_t control = cap_ + 2u;
  if (offset + len <= control || offset > control + 1) return;
  bool active = enabled() && !function_masked();
  if (active != was_active_ && vector_changed_)
    for (unsigned v = 0; v < vectors_; ++v) vector_changed_(v);
  was_active_ = active;
  if (active) deliver_pending();
}

void Msix::reset() {
  std::fill(table_.begin(), table_.end(), 0);
  std::fill(pba_.begin(), pba_.end(), 0);
  for (unsigned v = 0; v < vectors_; ++v) table_[v * kEntrySize + 12] = kEntryMaskBit;
  dev_.set16(cap_ + 2, static_cast<uint16_t>((vectors_ - 1) & kControlTableSizeMask));
  was_active_ = false;
}

}  // namespace nahanni
