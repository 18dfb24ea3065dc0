// A PCI function as a Linux guest sees it through sysfs (/sys/bus/pci/devices/<bdf>/).
// The sysfs root is a parameter so that tests can point it at a fake tree.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace nahanni::guest {

inline constexpr const char* kSysfsRoot = "/sys";

struct PciResource {
  uint64_t start = 0;
  uint64_t end = 0;
  uint64_t flags = 0;
  bool present() const { return end > start; }
  uint64_t size() const { return present() ? end - start + 1 : 0; }
};

struct PciFunction {
  std::string sysfs_root;  // e.g. "/sys"
  std::string bdf;         // e.g. "0000:00:03.0"
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // 24 bits: class, subclass, programming interface
  uint8_t interrupt_pin = 0;  // config 0x3d: 0 none, 1..4 INTA..INTD
  unsigned irq = 0;
  uint8_t msix_capability = 0;  // config offset of the MSI-X capability, 0 when absent
  std::vector<PciResource> resources;  // BARs 0..5 (and more lines sysfs lists)
  std::string driver;  // bound driver's name, empty when none

  std::string path() const;  // sysfs_root + "/bus/pci/devices/" + bdf
  std::string resource_path(int bar) const;
  const PciResource* resource(int bar) const;
};

// Reads one function; the error names the file that could not be read or parsed.
Result<PciFunction> read_pci_function(const std::string& sysfs_root, const std::string& bdf);
// Every function under sysfs_root/bus/pci/devices, sorted by address.
Result<std::vector<PciFunction>> list_pci_functions(const std::string& sysfs_root);

// Finds a capability in a config-space image (the standard list; the image must hold at
// least 256 bytes for capabilities beyond the first 64). Returns its offset, or 0.
uint8_t find_capability(const std::vector<uint8_t>& config, uint8_t id);

// Reads and writes the function's config space through sysfs (root may write all of it).
Result<std::vector<uint8_t>> read_config(const PciFunction& fn);
Status write_config(const PciFunction& fn, unsigned offset, const void* data, size_t len);

}  // namespace nahanni::guest
