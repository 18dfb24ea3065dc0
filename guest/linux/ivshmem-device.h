// An ivshmem PCI function opened from a Linux guest through sysfs: its registers (BAR0,
// mapped from resource0) and its shared memory (BAR2, mapped from resource2). This needs no
// driver at all; uio_pci_generic only matters for interrupts. A function bound to the
// nahanni_ivshmem kernel module is opened through its /dev/ivshmemN instead (the kernel
// then owns the BARs): memory is mapped from the node, and ring/IVPosition are ioctls.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ivshmem-identity.h"
#include "ivshmem-registers.h"
#include "kmod-node.h"
#include "mapped-region.h"
#include "pci-function.h"

namespace nahanni::guest {

class IvshmemDevice {
 public:
  // Maps BAR0 and BAR2 of fn, first turning on memory decoding if it is off.
  static Result<IvshmemDevice> open(const PciFunction& fn);

  const PciFunction& function() const { return function_; }
  const IvshmemIdentity& identity() const { return identity_; }
  // The mapped registers; only without the kernel module (registers_mapped()).
  IvshmemRegisters& registers() { return registers_; }
  bool registers_mapped() const { return register_map_.valid(); }
  // The kernel module's node when the function is bound to it, else null.
  const KmodNode* kmod() const { return kmod_ ? &*kmod_ : nullptr; }
  // Through the registers or the module, whichever this device is opened with.
  uint32_t iv_position();
  uint32_t features();  // revision 2 (0 before)
  uint32_t state();     // revision 2 (0 before)
  Status ring(uint16_t peer, uint16_t vector);
  uint8_t* memory() const { return memory_.data(); }
  size_t memory_size() const { return memory_.size(); }
  // Whether peers can be rung from here: a doorbell (or a legacy device with a server).
  bool has_doorbell() const { return identity_.kind != IvshmemKind::Plain; }

 private:
  IvshmemDevice(PciFunction fn, IvshmemIdentity id, MappedRegion regs, MappedRegion mem,
                std::optional<KmodNode> kmod = std::nullopt)
      : function_(std::move(fn)), identity_(id), register_map_(std::move(regs)),
        memory_(std::move(mem)), registers_(register_map_.data()), kmod_(std::move(kmod)) {}

  PciFunction function_;
  IvshmemIdentity identity_;
  MappedRegion register_map_;
  MappedRegion memory_;
  IvshmemRegisters registers_;
  std::optional<KmodNode> kmod_;
};

// Every ivshmem function under sysfs_root, in address order.
Result<std::vector<PciFunction>> list_ivshmem_functions(const std::string& sysfs_root);

// Binds fn to uio_pci_generic through driver_override (unbinding another driver first), so
// that /dev/uioN delivers its INTx interrupts. Loads nothing: modprobe uio_pci_generic first.
Status bind_to_uio(const PciFunction& fn);
// The uio device node of fn ("/dev/uio0"; ROOT/dev/uio0 for a sysfs tree at ROOT other than
// /sys), or an error saying how to bind it.
Result<std::string> uio_device_of(const PciFunction& fn);

}  // namespace nahanni::guest
