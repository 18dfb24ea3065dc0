// query-pci: bus 0's functions with their identity, interrupt and BARs, in QEMU's reply shape.
#include <nlohmann/json.hpp>

#include "hw/core/machine.h"
#include "hw/pci/pci-bus.h"
#include "monitor/qmp.h"

namespace nahanni {
namespace {

// QEMU's names for the PCI classes nahanni's devices use.
const char* class_description(uint16_t cls) {
  switch (cls) {
    case 0x0500: return "RAM controller";
    case 0x0600: return "Host bridge";
    case 0x0601: return "ISA bridge";
    case 0x0680: return "Bridge";
    default: return nullptr;
  }
}

nlohmann::json describe(PciDevice& d) {
  uint16_t cls = static_cast<uint16_t>(d.config_read(pci::kClassDevice, 2));
  nlohmann::json class_info = {{"class", cls}};
  if (const char* desc = class_description(cls)) class_info["desc"] = desc;
  nlohmann::json regions = nlohmann::json::array();
  for (int n = 0; n < pci::kNumBars; ++n) {
    if (!d.bar_registered(n)) continue;
    uint32_t type = d.bar_type(n);
    uint64_t at = d.bar_address(n);
    nlohmann::json r = {{"bar", n},
                        {"type", (type & pci::kBarSpaceIo) ? "io" : "memory"},
                        {"address", at == PciDevice::kBarUnmapped ? nlohmann::json(-1) : nlohmann::json(at)},
                        {"size", d.bar_size(n)}};
    if (!(type & pci::kBarSpaceIo)) {
      r["prefetch"] = (type & pci::kBarMemPrefetch) != 0;
      r["mem_type_64"] = (type & pci::kBarMemType64) != 0;
    }
    regions.push_back(r);
  }
  nlohmann::json info = {
      {"bus", 0},
      {"slot", d.devfn() >> 3},
      {"function", d.devfn() & 7},
      {"class_info", class_info},
      {"id",
       {{"vendor", d.config_read(pci::kVendorId, 2)},
        {"device", d.config_read(pci::kDeviceId, 2)},
        {"subsystem-vendor", d.config_read(pci::kSubsystemVendorId, 2)},
        {"subsystem", d.config_read(pci::kSubsystemId, 2)}}},
      {"irq_pin", d.config_byte(pci::kInterruptPin)},
      {"qdev_id", d.id()},
      {"regions", regions}};
  if (d.config_byte(pci::kInterruptPin)) info["irq"] = d.config_byte(pci::kInterruptLine);
  return info;
}

Result<nlohmann::json> qmp_query_pci(const nlohmann::json&) {
  nlohmann::json buses = nlohmann::json::array();
  Machine* m = current_machine();
  if (!m) return buses;
  for (Bus* bus : m->buses()) {
    auto* pci_bus = dynamic_cast<PciBus*>(bus);
    if (!pci_bus) continue;
    nlohmann::json devices = nlohmann::json::array();
    for (int devfn = 0; devfn < 256; ++devfn)
      if (PciDevice* d = pci_bus->device_at(devfn)) devices.push_back(describe(*d));
    buses.push_back({{"bus", 0}, {"devices", devices}});
  }
  return buses;
}

const QmpCommandRegistration kQueryPci{QmpCommand{.name = "query-pci", .args = {}, .handler = qmp_query_pci}};

}  // namespace
}  // namespace nahanni
