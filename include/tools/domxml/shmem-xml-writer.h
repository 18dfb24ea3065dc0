// Formats <shmem> definitions the way libvirt's domain formatter does (size in M, address
// with domain/bus/slot/function in hex), wrapped in <devices> so the output is one document.
#pragma once

#include <string>
#include <vector>

#include "tools/domxml/shmem-def.h"

namespace nahanni::domxml {

std::string format_shmem_xml(const ShmemDef& def, int indent);
std::string format_devices_xml(const std::vector<ShmemDef>& shmems);

}  // namespace nahanni::domxml
