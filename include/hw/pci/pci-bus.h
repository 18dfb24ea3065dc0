// The PCI root bus: 32 slots of 8 functions, BARs mapped into the machine's PCI memory and I/O
// windows, INTx routed to interrupt-controller inputs, and the hotplug hooks of the machine.
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "hw/core/bus.h"
#include "hw/pci/pci-device.h"
#include "system/memory.h"

namespace nahanni {

class PciBus : public Bus {
 public:
  // `memory` and `io` are the containers BARs are mapped into.
  PciBus(std::string name, MemoryRegion* memory, MemoryRegion* io);

  Status plug(Device& dev) override;
  void unplug(Device& dev) override;
  Status request_unplug(Device& dev) override;
  bool hotpluggable() const override { return static_cast<bool>(unplug_request_); }
  std::vector<Device*> devices() const override;

  PciDevice* device_at(int devfn) const { return functions_[devfn]; }
  // Configuration mechanism: reads of absent functions return all ones.
  uint32_t config_read(int devfn, uint32_t offset, unsigned len);
  void config_write(int devfn, uint32_t offset, uint32_t value, unsigned len);

  MemoryRegion* memory_window() const { return memory_; }
  MemoryRegion* io_window() const { return io_; }

  // The machine decides how a function's INTx pin reaches its interrupt controller.
  void set_intx_router(std::function<void(int devfn, int pin, int level)> router) { router_ = std::move(router); }
  void route_intx(int devfn, int pin, int level) {
    if (router_) router_(devfn, pin, level);
  }
  // Installed by a machine with a hotplug controller (ACPI PCI hotplug on pc).
  void set_unplug_request_handler(std::function<Status(PciDevice&)> handler) { unplug_request_ = std::move(handler); }

 private:
  MemoryRegion* memory_;
  MemoryRegion* io_;
  std::array<PciDevice*, 256> functions_{};
  std::function<void(int, int, int)> router_;
  std::function<Status(PciDevice&)> unplug_request_;
};

}  // namespace nahanni
