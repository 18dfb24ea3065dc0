// One libvirt <shmem> element, as libvirt's domain model holds it: what the XML says, and after
// prepare_shmems() also what libvirt fills in before building a command line (size, alias,
// server path, ioeventfd, PCI address).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace nahanni::domxml {

// libvirt's model enum; Ivshmem is first, so it is what a missing <model> means.
enum class ShmemModel { Ivshmem, IvshmemPlain, IvshmemDoorbell };
std::string_view to_string(ShmemModel model);

enum class ShmemRole { Master, Peer };
std::string_view to_string(ShmemRole role);

struct PciAddress {
  unsigned domain = 0;
  unsigned bus = 0;
  unsigned slot = 0;
  unsigned function = 0;
  std::optional<bool> multifunction;  // multifunction='on|off'; absent when not written

  bool operator==(const PciAddress&) const = default;
};

struct ShmemServer {
  std::optional<std::string> path;  // absent: libvirt's default /var/lib/libvirt/shmem-NAME-sock

  bool operator==(const ShmemServer&) const = default;
};

struct ShmemMsi {
  unsigned vectors = 0;             // 0: not given
  std::optional<bool> ioeventfd;    // on/off; absent: not given

  bool operator==(const ShmemMsi&) const = default;
};

struct ShmemDef {
  std::string name;
  ShmemModel model = ShmemModel::Ivshmem;
  std::optional<ShmemRole> role;
  uint64_t size = 0;  // bytes; 0: not given
  std::optional<ShmemServer> server;
  std::optional<ShmemMsi> msi;
  std::optional<std::string> alias;
  std::optional<PciAddress> address;
  // An <address> of another type ('isa', 'usb', ...): refused when building the command line,
  // where libvirt refuses it.
  std::optional<std::string> other_address_type;

  bool operator==(const ShmemDef&) const = default;
};

// The machine a domain runs: decides the root bus name (pci.0 on i440fx, pcie.0 on q35).
enum class MachineFamily { I440fx, Q35 };

struct DomainShmems {
  MachineFamily machine = MachineFamily::I440fx;
  std::vector<ShmemDef> shmems;
  // Slots on bus 0 that other devices of the domain hold by explicit address; auto-assignment
  // of shmem addresses skips them.
  std::vector<unsigned> reserved_slots;
  bool video_wants_slot_2 = false;  // a primary <video> without address: libvirt keeps 0:0:2.0 for it
};

// The socket libvirt connects to when <server/> gives no path.
std::string default_server_path(std::string_view name);
// The /dev/shm file an ivshmem-plain device maps.
std::string plain_mem_path(std::string_view name);

}  // namespace nahanni::domxml
