#include "hw/i386/acpi-pcihp.h"

#include "hw/core/qdev-monitor.h"
#include "qom/type.h"

namespace nahanni {

AcpiPciHotplug::AcpiPciHotplug(PciBus& bus) : bus_(bus) {
  region_ = MemoryRegion::io("acpi-pci-hotplug", kSize,
                             MemoryRegionOps{.read = [this](uint64_t o, unsigned) { return read(o); },
                                             .write = [this](uint64_t o, uint64_t v, unsigned) { write(o, v); },
                                             .min_access = 4,
                                             .max_access = 4});
}

uint32_t AcpiPciHotplug::removable_slots() const {
  uint32_t mask = 0;
  for (int slot = 0; slot < pci::kSlotsPerBus; ++slot) {
    bool any = false, all_hotpluggable = true;
    for (int fn = 0; fn < 8; ++fn) {
      if (PciDevice* d = bus_.device_at(slot << 3 | fn)) {
        any = true;
        if (!d->type().hotpluggable || !d->type().user_creatable) all_hotpluggable = false;
      }
    }
    if (!any || all_hotpluggable) mask |= 1u << slot;
  }
  return mask;
}

Status AcpiPciHotplug::request_unplug(PciDevice& dev) {
  if (!(removable_slots() & (1u << (dev.devfn() >> 3))))
    return Error::format("Device '{}' does not support hotplugging", dev.type_name());
  down_ |= 1u << (dev.devfn() >> 3);
  dev.set_unplug_pending(true);
  return {};
}

void AcpiPciHotplug::device_plugged(PciDevice& dev) { up_ |= 1u << (dev.devfn() >> 3); }

void AcpiPciHotplug::reset() {
  up_ = 0;
  down_ = 0;
  // The reset forgets the requests, so they must not stay pending: device_del can ask again
  // (otherwise the device could never be unplugged).
  for (Device* d : bus_.devices()) d->set_unplug_pending(false);
}

uint64_t AcpiPciHotplug::read(uint64_t offset) {
  switch (offset) {
    case kUp: return up_;
    case kDown: return down_;
    case kRemovable: return removable_slots();
    case kSelect: return 0;  // one bus
    case kAcpiIndex: return 0;
    default: return 0;
  }
}

void AcpiPciHotplug::write(uint64_t offset, uint64_t value) {
  if (offset == kEject && value) {
    eject(static_cast<unsigned>(__builtin_ctzll(value)));
  } else if (offset == kAcpiIndex) {
    acpi_index_slot_ = static_cast<uint32_t>(value);
  }
}

void AcpiPciHotplug::eject(unsigned slot) {
  if (slot >= pci::kSlotsPerBus || !(removable_slots() & (1u << slot))) return;
  up_ &= ~(1u << slot);
  down_ &= ~(1u << slot);
  for (int fn = 7; fn >= 0; --fn)
    if (PciDevice* d = bus_.device_at(static_cast<int>(slot << 3) | fn)) device_remove(*d);
}

}  // namespace nahanni
