#include "tools/domxml/shmem-def.h"

#include <fmt/format.h>

namespace nahanni::domxml {

std::string_view to_string(ShmemModel model) {
  switch (model) {
    case ShmemModel::Ivshmem: return "ivshmem";
    case ShmemModel::IvshmemPlain: return "ivshmem-plain";
    case ShmemModel::IvshmemDoorbell: return "ivshmem-doorbell";
  }
  return "ivshmem";
}

std::string_view to_string(ShmemRole role) { return role == ShmemRole::Master ? "master" : "peer"; }

std::string default_server_path(std::string_view name) {
  // libvirt's code uses this path; its documentation names a shmem/ subfolder it never creates.
  return fmt::format("/var/lib/libvirt/shmem-{}-sock", name);
}

std::string plain_mem_path(std::string_view name) { return fmt::format("/dev/shm/{}", name); }

}  // namespace nahanni::domxml
