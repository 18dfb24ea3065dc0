// What libvirt's QEMU driver does to a parsed <shmem> before it writes a command line:
// post-parse defaults (4 MiB, ioeventfd on, msi for doorbell), the model/server checks,
// name validation, size checks, alias and PCI address assignment. After this every ShmemDef
// has an alias and a PCI address, and the builder only formats.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/domxml/shmem-def.h"
#include "util/error.h"

namespace nahanni::domxml {

struct PrepareOptions {
  // Current libvirt refuses the legacy model; nahanni's shim takes it, so by default we let it
  // through with a deprecation note instead.
  bool allow_legacy_ivshmem = true;
};

// Fills defaults and checks one definition (everything that does not depend on its siblings).
// `notes` receives deprecation and "ignored" remarks for stderr.
Status prepare_shmem(ShmemDef& def, std::vector<std::string>& notes,
                     const PrepareOptions& options = {});

// virDomainShmemDefValidate's rule for a name, with libvirt's messages: it becomes a file name
// under /dev/shm.
Status validate_shmem_name(std::string_view name);

// prepare_shmem for each, then aliases (shmem<index>) and PCI addresses.
Status prepare_shmems(DomainShmems& domain, std::vector<std::string>& notes,
                      const PrepareOptions& options = {});

}  // namespace nahanni::domxml
