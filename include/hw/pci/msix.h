// MSI-X (PCI 3.0, 6.8.2): a capability, a vector table and a pending-bit array in an exclusive
// BAR. Vectors start masked; a notification on a masked vector (or with the function masked or
// MSI-X disabled) sets its pending bit, and unmasking delivers what is pending.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "hw/pci/pci-device.h"
#include "system/memory.h"

namespace nahanni {

class Msix {
 public:
  static constexpr unsigned kMaxVectors = 2048;
  static constexpr unsigned kEntrySize = 16;

  // Adds the capability to `dev` and builds the BAR region (the caller registers it as BAR `bar`).
  Msix(PciDevice& dev, unsigned vectors, int bar);
  ~Msix();

  MemoryRegion* bar_region() { return bar_.get(); }
  unsigned vectors() const { return vectors_; }
  uint8_t cap_offset() const { return cap_; }
  bool enabled() const;
  bool function_masked() const;
  bool vector_masked(unsigned vector) const;
  bool pending(unsigned vector) const;
  uint64_t address(unsigned vector) const;
  uint32_t data(unsigned vector) const;

  // Raises `vector`: delivered as a memory write of its data to its address, or left pending.
  void notify(unsigned vector);
  // Must be called from the device's config_written hook.
  void config_written(uint32_t offset, unsigned len);
  void reset();
  // The accelerator's fast path listens to table and mask changes (KVM MSI routes and irqfds).
  void set_vector_changed(std::function<void(unsigned vector)> cb) { vector_changed_ = std::move(cb); }
  void set_delivery(std::function<void(uint64_t address, uint32_t data)> deliver) { deliver_ = std::move(deliver); }

 private:
  uint32_t table_read32(unsigned offset) const;
  void table_write(uint64_t offset, uint64_t value, unsigned size);
  void deliver_pending();
  void set_pending(unsigned vector, bool on);

  PciDevice& dev_;
  unsigned vectors_;
  uint8_t cap_ = 0;
  uint64_t pba_offset_;
  std::vector<uint8_t> table_;
  std::vector<uint8_t> pba_;
  std::unique_ptr<MemoryRegion> bar_;
  std::unique_ptr<MemoryRegion> table_region_;
  std::unique_ptr<MemoryRegion> pba_region_;
  bool was_active_ = false;
  std::function<void(unsigned)> vector_changed_;
  std::function<void(uint64_t, uint32_t)> deliver_;
};

}  // namespace nahanni
