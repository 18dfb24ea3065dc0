// Turns prepared <shmem> definitions into the -object/-device/-chardev arguments libvirt's QEMU
// driver writes: JSON for -object/-device (current libvirt) or keyval (older libvirt or QEMU),
// and the legacy "-device ivshmem,..." form for model 'ivshmem'.
#pragma once

#include <string>
#include <vector>

#include "tools/domxml/shmem-def.h"

namespace nahanni::domxml {

enum class ArgFormat { Json, Keyval };

struct Arg {
  std::string option;  // "-object", "-device", "-chardev"
  std::string value;

  bool operator==(const Arg&) const = default;
};

// `def` must have gone through prepare_shmems (alias and address set).
std::vector<Arg> build_shmem_args(const ShmemDef& def, MachineFamily machine, ArgFormat format);
std::vector<Arg> build_domain_args(const DomainShmems& domain, ArgFormat format);

// The root-bus or bridge name libvirt uses in "bus": pci.0 / pcie.0 / pci.N.
std::string pci_bus_name(unsigned bus, MachineFamily machine);
// "0x2", or "0x2.0x1" for a non-zero function.
std::string pci_addr_text(const PciAddress& addr);

}  // namespace nahanni::domxml
