// A bus devices plug into (the PCI root bus, the system bus). The bus assigns addresses on
// plug and carries out hotplug protocols (ACPI eject on pc) on unplug requests.
#pragma once

#include <string>
#include <vector>

#include "hw/core/device.h"
#include "util/error.h"

namespace nahanni {

class Bus {
 public:
  Bus(std::string name, std::string type) : name_(std::move(name)), type_(std::move(type)) {}
  virtual ~Bus() = default;

  const std::string& name() const { return name_; }
  // The bus type devices name as their bus_type ("PCI").
  const std::string& type() const { return type_; }

  // Takes the device before realize: validates and assigns its address.
  virtual Status plug(Device& dev) = 0;
  // Called once the device is unrealized; frees its address.
  virtual void unplug(Device& dev) = 0;
  // device_del: start the unplug protocol; the device goes when the guest agrees.
  virtual Status request_unplug(Device& dev);
  virtual bool hotpluggable() const { return false; }
  // Devices on this bus, in slot order.
  virtual std::vector<Device*> devices() const = 0;

 private:
  std::string name_;
  std::string type_;
};

}  // namespace nahanni
