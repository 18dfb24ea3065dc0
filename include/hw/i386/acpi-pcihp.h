// ACPI PCI hotplug registers as PIIX4 exposes them at I/O port 0xae00 (QEMU's layout):
// +0 slots up, +4 slots down (device_del pending), +8 eject (write a slot bit), +0xc removable,
// +0x10 bus select, +0x14 ACPI index. 4-byte accesses.
#pragma once

#include <cstdint>
#include <memory>

#include "hw/pci/pci-bus.h"
#include "system/memory.h"

namespace nahanni {

class AcpiPciHotplug {
 public:
  static constexpr uint16_t kBase = 0xae00;
  static constexpr uint16_t kUp = 0x0, kDown = 0x4, kEject = 0x8, kRemovable = 0xc, kSelect = 0x10, kAcpiIndex = 0x14;
  static constexpr uint64_t kSize = 0x18;

  explicit AcpiPciHotplug(PciBus& bus);
  MemoryRegion* region() { return region_.get(); }
  // device_del: marks the slot for removal; the guest's eject write completes it.
  Status request_unplug(PciDevice& dev);
  void device_plugged(PciDevice& dev);
  void reset();

 private:
  uint64_t read(uint64_t offset);
  void write(uint64_t offset, uint64_t value);
  void eject(unsigned slot);
  uint32_t removable_slots() const;

  PciBus& bus_;
  uint32_t up_ = 0;
  uint32_t down_ = 0;
  uint32_t acpi_index_slot_ = 0;
  std::unique_ptr<MemoryRegion> region_;
};

}  // namespace nahanni
