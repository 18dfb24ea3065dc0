#include "tools/domxml/argv-builder.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace nahanni::domxml {
namespace {

using Props = nlohmann::ordered_json;

// QEMU's option syntax doubles a comma inside a value.
std::string escape_commas(std::string_view value) {
  std::string out;
  for (char c : value) {
    out += c;
    if (c == ',') out += ',';
  }
  return out;
}

// libvirt's virQEMUBuildCommandLineJSON: the first member (driver / qom-type) bare, then
// key=value with booleans as on/off and numbers in decimal.
std::string to_keyval(const Props& props) {
  std::string out;
  bool first = true;
  for (const auto& [key, value] : props.items()) {
    std::string text;
    if (value.is_boolean())
      text = value.get<bool>() ? "on" : "off";
    else if (value.is_string())
      text = escape_commas(value.get<std::string>());
    else
      text = value.dump();
    if (first) {
      out = text;
      first = false;
    } else {
      out += fmt::format(",{}={}", key, text);
    }
  }
  return out;
}

std::string render(const Props& props, ArgFormat format) {
  return format == ArgFormat::Json ? props.dump() : to_keyval(props);
}

// qemuBuildDeviceAddressProps: bus, then multifunction when written, then addr.
void add_pci_address(Props& props, const ShmemDef& def, MachineFamily machine) {
  if (!def.address) return;
  props["bus"] = pci_bus_name(def.address->bus, machine);
  if (def.address->multifunction) props["multifunction"] = *def.address->multifunction;
  props["addr"] = pci_addr_text(*def.address);
}

Arg server_chardev(const ShmemDef& def) {
  // Always the client side of the socket: libvirt never starts an ivshmem-server itself.
  return {"-chardev", fmt::format("socket,id=char{},path={}", *def.alias, escape_commas(*def.server->path))};
}

std::vector<Arg> build_plain(const ShmemDef& def, MachineFamily machine, ArgFormat format) {
  const std::string& alias = *def.alias;
  Props backend;
  backend["qom-type"] = "memory-backend-file";
  backend["id"] = "shmmem-" + alias;
  backend["mem-path"] = plain_mem_path(def.name);
  backend["size"] = def.size;
  backend["share"] = true;

  Props device;
  device["driver"] = "ivshmem-plain";
  device["id"] = alias;
  device["memdev"] = "shmmem-" + alias;
  // QEMU's master is an OnOffAuto enum, so it is a string even in JSON.
  if (def.role) device["master"] = *def.role == ShmemRole::Master ? "on" : "off";
  add_pci_address(device, def, machine);
  return {{"-object", render(backend, format)}, {"-device", render(device, format)}};
}

std::vector<Arg> build_doorbell(const ShmemDef& def, MachineFamily machine, ArgFormat format) {
  const std::string& alias = *def.alias;
  Props device;
  device["driver"] = "ivshmem-doorbell";
  device["id"] = alias;
  device["chardev"] = "char" + alias;
  if (def.msi && def.msi->vectors != 0) device["vectors"] = def.msi->vectors;
  if (def.msi && def.msi->ioeventfd) device["ioeventfd"] = *def.msi->ioeventfd;
  add_pci_address(device, def, machine);
  // libvirt writes the device first; QEMU creates every chardev before any device anyway.
  return {{"-device", render(device, format)}, server_chardev(def)};
}

// What libvirt up to 2.x wrote for the single 'ivshmem' device: always key=value, size in
// MiB with an "m" suffix. role= is nahanni's addition (the shim takes it; libvirt had no role then).
std::vector<Arg> build_legacy(const ShmemDef& def, MachineFamily machine) {
  std::string device = fmt::format("ivshmem,id={},size={}m", *def.alias, def.size >> 20);
  if (def.server) {
    device += fmt::format(",chardev=char{}", *def.alias);
    if (def.msi) {
      device += ",msi=on";
      if (def.msi->vectors != 0) device += fmt::format(",vectors={}", def.msi->vectors);
      if (def.msi->ioeventfd) device += fmt::format(",ioeventfd={}", *def.msi->ioeventfd ? "on" : "off");
    }
  } else {
    device += ",shm=" + escape_commas(def.name);
  }
  if (def.role) device += fmt::format(",role={}", to_string(*def.role));
  if (def.address) {
    device += ",bus=" + pci_bus_name(def.address->bus, machine);
    if (def.address->multifunction) device += fmt::format(",multifunction={}", *def.address->multifunction ? "on" : "off");
    device += ",addr=" + pci_addr_text(*def.address);
  }
  std::vector<Arg> args = {{"-device", device}};
  if (def.server) args.push_back(server_chardev(def));
  return args;
}

}  // namespace

std::string pci_bus_name(unsigned bus, MachineFamily machine) {
  if (bus == 0) return machine == MachineFamily::Q35 ? "pcie.0" : "pci.0";
  return fmt::format("pci.{}", bus);
}

std::string pci_addr_text(const PciAddress& addr) {
  if (addr.function == 0) return fmt::format("0x{:x}", addr.slot);
  return fmt::format("0x{:x}.0x{:x}", addr.slot, addr.function);
}

std::vector<Arg> build_shmem_args(const ShmemDef& def, MachineFamily machine, ArgFormat format) {
  switch (def.model) {
    case ShmemModel::IvshmemPlain: return build_plain(def, machine, format);
    case ShmemModel::IvshmemDoorbell: return build_doorbell(def, machine, format);
    case ShmemModel::Ivshmem: return build_legacy(def, machine);
  }
  return {};
}

std::vector<Arg> build_domain_args(const DomainShmems& domain, ArgFormat format) {
  std::vector<Arg> args;
  for (const ShmemDef& def : domain.shmems) {
    auto more = build_shmem_args(def, domain.machine, format);
    args.insert(args.end(), more.begin(), more.end());
  }
  return args;
}

}  // namespace nahanni::domxml
