#include "tools/domxml/shmem-prepare.h"

#include <fmt/format.h>

#include <set>

#include "tools/domxml/pci-slots.h"
#include "util/keyval.h"
#include "util/size.h"

namespace nahanni::domxml {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

Error unsupported(std::string message) { return Error("unsupported configuration: " + message); }

// qemuDomainShmemDefPostParse: the defaults libvirt fills in when it defines the domain.
Status apply_post_parse(ShmemDef& def) {
  // 4 MiB has been the default since the device was introduced.
  if (def.model != ShmemModel::IvshmemDoorbell && def.size == 0) def.size = 4 * kMiB;
  if (def.model == ShmemModel::Ivshmem) return {};

  std::string_view model = to_string(def.model);
  if (!def.server) {
    if (def.model == ShmemModel::IvshmemDoorbell)
      return unsupported(fmt::format("shmem model '{}' is supported only with server option enabled", model));
    return {};
  }
  if (def.model == ShmemModel::IvshmemPlain)
    return unsupported(fmt::format("shmem model '{}' is supported only with server option disabled", model));
  if (def.size != 0)
    return unsupported(fmt::format("shmem model '{}' does not support size setting", model));
  if (!def.msi) def.msi = ShmemMsi{};
  if (!def.msi->ioeventfd) def.msi->ioeventfd = true;
  return {};
}


// qemuBuildShmemCommandLine's checks, in its order.
Status validate_for_command_line(const ShmemDef& def) {
  if (def.size != 0) {
    if (!is_power_of_2(def.size)) return Error("XML error: shmem size must be a power of two");
    if (def.size < kMiB) return Error("XML error: shmem size must be at least 1 MiB (1024 KiB)");
  }
  if (def.other_address_type)
    return unsupported("only 'pci' addresses are supported for the shared memory device");
  if (def.address && def.address->domain != 0)
    return Error("internal error: Only PCI device addresses with domain=0 are supported");
  return {};
}

}  // namespace

Status validate_shmem_name(std::string_view name) {
  if (name.empty()) return unsupported("shmem name cannot be empty");
  if (name.find('/') != std::string_view::npos) return unsupported("shmem name cannot include '/' character");
  if (name == ".") return unsupported("shmem name cannot be equal to '.'");
  if (name == "..") return unsupported("shmem name cannot be equal to '..'");
  return {};
}

Status prepare_shmem(ShmemDef& def, std::vector<std::string>& notes, const PrepareOptions& options) {
  NN_TRY(apply_post_parse(def));
  NN_TRY(validate_shmem_name(def.name));
  if (def.model == ShmemModel::Ivshmem) {
    if (!options.allow_legacy_ivshmem) return unsupported("ivshmem device is no longer supported");
    notes.push_back(fmt::format(
        "shmem '{}': model 'ivshmem' is deprecated and current libvirt refuses it; emitting the legacy "
        "'-device ivshmem' for nahanni's compatibility shim, use 'ivshmem-plain' or 'ivshmem-doorbell'",
        def.name));
  }
  if (def.model == ShmemModel::IvshmemDoorbell && def.role) {
    // libvirt applies role only to the server-less device; say so rather than drop it silently.
    notes.push_back(fmt::format("shmem '{}': role '{}' is ignored for model 'ivshmem-doorbell', as libvirt does",
                                def.name, to_string(*def.role)));
    def.role.reset();
  }
  NN_TRY(validate_for_command_line(def));
  if (def.server && !def.server->path) def.server->path = default_server_path(def.name);
  return {};
}

Status prepare_shmems(DomainShmems& domain, std::vector<std::string>& notes, const PrepareOptions& options) {
  for (ShmemDef& def : domain.shmems) NN_TRY(prepare_shmem(def, notes, options));

  // qemuAssignDeviceShmemAlias: shmem<index> unless the element carries its own alias.
  std::set<std::string> seen;
  for (size_t i = 0; i < domain.shmems.size(); ++i) {
    ShmemDef& def = domain.shmems[i];
    if (!def.alias) def.alias = fmt::format("shmem{}", i);
    if (!is_valid_id(*def.alias))
      return unsupported(fmt::format("shmem alias '{}' is not a valid QEMU id", *def.alias));
    if (!seen.insert(*def.alias).second)
      return Error(fmt::format("XML error: non unique alias detected: {}", *def.alias));
  }
  return assign_pci_addresses(domain);
}

}  // namespace nahanni::domxml
