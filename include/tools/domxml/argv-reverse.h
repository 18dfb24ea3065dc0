// Reads a command line (ours or libvirt's) back into <shmem> definitions: the ivshmem-plain,
// ivshmem-doorbell and legacy ivshmem devices with the -object/-chardev they reference.
// Other options and words are skipped; anything about a shmem device that <shmem> cannot
// express is an error that says what and why.
#pragma once

#include <string>
#include <vector>

#include "tools/domxml/shmem-def.h"
#include "util/error.h"

namespace nahanni::domxml {

struct ReverseResult {
  DomainShmems domain;
  std::vector<std::string> notes;  // for stderr: lossy but acceptable mappings
};

Result<ReverseResult> reverse_args(const std::vector<std::string>& words);

}  // namespace nahanni::domxml
