#include "hw/pci/pci-bus.h"

#include <fmt/format.h>

namespace nahanni {

PciBus::PciBus(std::string name, MemoryRegion* memory, MemoryRegion* io)
    : Bus(std::move(name), "PCI"), memory_(memory), io_(io) {}

namespace {
std::string describe(const Device& d) {
  return fmt::format("{},id={}", d.type_name(), d.id().empty() ? "(null)" : d.id());
}
}  // namespace

Status PciBus::plug(Device& dev) {
  auto* pdev = dynamic_cast<PciDevice*>(&dev);
  if (!pdev) return Error::format("Device '{}' can't go on PCI bus", dev.type_name());
  int devfn = pdev->requested_devfn();
  if (devfn < 0) {
    for (int slot = 0; slot < pci::kSlotsPerBus; ++slot) {
      if (!functions_[slot << 3]) {
        devfn = slot << 3;
        break;
      }
    }
    if (devfn < 0) return Error::format("PCI: no slot/function available for {}, all in use", dev.type_name());
  }
  int slot = devfn >> 3, fn = devfn & 7;
  if (PciDevice* other = functions_[devfn])
    return Error::format("PCI: slot {} function {} not available for {}, in use by {}", slot, fn, dev.type_name(),
                         describe(*other));
  // QEMU's messages, with slot and function in hex here (and in decimal above).
  if (fn == 0) {
    for (int f = 1; f < 8; ++f)
      if (functions_[devfn + f] && !pdev->multifunction())
        return Error::format("PCI: {:x}.0 indicates single function, but {:x}.{:x} is already populated.", slot, slot,
                             f);
  } else if (PciDevice* f0 = functions_[slot << 3]; f0 && !f0->multifunction()) {
    return Error::format("PCI: single function device can't be populated in function {:x}.{:x}", slot, fn);
  }
  functions_[devfn] = pdev;
  pdev->set_devfn(devfn);
  return {};
}

void PciBus::unplug(Device& dev) {
  auto* pdev = dynamic_cast<PciDevice*>(&dev);
  if (!pdev || pdev->devfn() < 0) return;
  if (functions_[pdev->devfn()] == pdev) functions_[pdev->devfn()] = nullptr;
}

Status PciBus::request_unplug(Device& dev) {
  auto* pdev = dynamic_cast<PciDevice*>(&dev);
  if (!pdev || !unplug_request_) return Bus::request_unplug(dev);
  return unplug_request_(*pdev);
}

std::vector<Device*> PciBus::devices() const {
  std::vector<Device*> out;
  for (PciDevice* d : functions_)
    if (d) out.push_back(d);
  return out;
}

uint32_t PciBus::config_read(int devfn, uint32_t offset, unsigned len) {
  PciDevice* d = devfn >= 0 && devfn < 256 ? functions_[devfn] : nullptr;
  if (!d) return len == 4 ? 0xffffffffu : (1u << (8 * len)) - 1;
  return d->config_read(offset, len);
}

void PciBus::config_write(int devfn, uint32_t offset, uint32_t value, unsigned len) {
  PciDevice* d = devfn >= 0 && devfn < 256 ? functions_[devfn] : nullptr;
  if (d) d->config_write(offset, value, len);
}

}  // namespace nahanni
