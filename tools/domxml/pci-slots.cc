#include "tools/domxml/pci-slots.h"

#include <fmt/format.h>

#include <set>
#include <tuple>

namespace nahanni::domxml {
namespace {

constexpr unsigned kMaxSlot = 0x1F;

Error double_use(const PciAddress& addr) {
  return Error(fmt::format("XML error: Attempted double use of PCI Address {}", format_pci_address(addr)));
}

}  // namespace

std::string format_pci_address(const PciAddress& addr) {
  return fmt::format("{:04x}:{:02x}:{:02x}.{:x}", addr.domain, addr.bus, addr.slot, addr.function);
}

Status assign_pci_addresses(DomainShmems& domain) {
  // Whole slots on bus 0 that nothing else may use: the host bridge at 0, and the PIIX3
  // (ISA, IDE, USB, ACPI functions) at 1 on i440fx or the ICH9 LPC at 0x1f on q35.
  std::set<unsigned> busy_slots = {0, domain.machine == MachineFamily::I440fx ? 1u : kMaxSlot};
  busy_slots.insert(domain.reserved_slots.begin(), domain.reserved_slots.end());

  std::set<std::tuple<unsigned, unsigned, unsigned>> taken;  // bus, slot, function of shmems
  for (const ShmemDef& def : domain.shmems) {
    if (!def.address) continue;
    const PciAddress& a = *def.address;
    if ((a.bus == 0 && busy_slots.contains(a.slot)) || !taken.emplace(a.bus, a.slot, a.function).second)
      return double_use(a);
  }
  for (const auto& [bus, slot, function] : taken)
    if (bus == 0) busy_slots.insert(slot);
  if (domain.video_wants_slot_2 && domain.machine == MachineFamily::I440fx) busy_slots.insert(2);

  for (ShmemDef& def : domain.shmems) {
    if (def.address || def.other_address_type) continue;
    if (domain.machine == MachineFamily::Q35)
      return Error(fmt::format(
          "unsupported configuration: shmem '{}' has no PCI address; on q35 libvirt places it behind a "
          "pcie-to-pci-bridge, which this tool does not create: give it an explicit "
          "<address type='pci' bus=... slot=.../>",
          def.name));
    unsigned slot = 1;
    while (slot <= kMaxSlot && busy_slots.contains(slot)) ++slot;
    if (slot > kMaxSlot) return Error("internal error: No more available PCI slots");
    busy_slots.insert(slot);
    def.address = PciAddress{.domain = 0, .bus = 0, .slot = slot, .function = 0, .multifunction = {}};
  }
  return {};
}

}  // namespace nahanni::domxml
