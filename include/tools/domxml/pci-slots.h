// Automatic PCI slot assignment for <shmem> devices without an address, as libvirt does it on
// the root bus: the lowest free slot from 2 up (0 is the host bridge, 1 the PIIX3 on i440fx),
// after explicitly addressed devices and a primary video card have taken theirs.
#pragma once

#include "tools/domxml/shmem-def.h"
#include "util/error.h"

namespace nahanni::domxml {

Status assign_pci_addresses(DomainShmems& domain);

// "0000:00:04.0", as libvirt prints addresses in messages.
std::string format_pci_address(const PciAddress& addr);

}  // namespace nahanni::domxml
