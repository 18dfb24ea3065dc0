#include "ivshmem-identity.h"

namespace nahanni::guest {

std::optional<IvshmemIdentity> identify_ivshmem(const PciFunction& fn) {
  if (fn.vendor != kVendorRedHat) return std::nullopt;
  if (fn.device != kDeviceIvshmem && fn.device != kDeviceIvshmemDoorbell) return std::nullopt;
  IvshmemIdentity id{IvshmemKind::Plain, fn.revision, fn.msix_capability != 0, fn.interrupt_pin != 0};
  if (fn.device == kDeviceIvshmemDoorbell) {
    id.kind = IvshmemKind::Doorbell;
  } else if (fn.revision == 0) {
    id.kind = IvshmemKind::Legacy;
  } else {
    // Revision 1 doorbells always have MSI-X; revision 2 ones with legacy-id=on have MSI-X
    // or, with msi=off, an INTx pin. A plain device has neither.
    id.kind = (id.msix || id.intx) ? IvshmemKind::Doorbell : IvshmemKind::Plain;
  }
  return id;
}

std::string_view kind_name(IvshmemKind kind) {
  switch (kind) {
    case IvshmemKind::Plain: return "plain";
    case IvshmemKind::Doorbell: return "doorbell";
    case IvshmemKind::Legacy: return "legacy";
  }
  return "?";
}

}  // namespace nahanni::guest
