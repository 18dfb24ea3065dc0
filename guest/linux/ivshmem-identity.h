// Which ivshmem device a PCI function is, from what a guest can observe in config space.
//
// | observed                                   | kind     | made by                        |
// |--------------------------------------------|----------|--------------------------------|
// | 1af4:1111                                  | doorbell | nahanni                        |
// | 1af4:1110 rev 2, no MSI-X and no INTx pin  | plain    | nahanni                        |
// | 1af4:1110 rev 2 with MSI-X or an INTx pin  | doorbell | nahanni, legacy-id=on          |
// | 1af4:1110 rev 1 with MSI-X (BAR1)          | doorbell | QEMU >= 2.6 ivshmem-doorbell   |
// | 1af4:1110 rev 1 without MSI-X              | plain    | QEMU >= 2.6 ivshmem-plain      |
// | 1af4:1110 rev 0                            | legacy   | old QEMU ivshmem, nahanni shim |
// QEMU's revision-1 devices have interrupt pin 0, so a doorbell there is known only by its
// MSI-X capability. Revision 2 devices also say so in their Features register (BAR0 0x10).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "pci-function.h"

namespace nahanni::guest {

inline constexpr uint16_t kVendorRedHat = 0x1af4;
inline constexpr uint16_t kDeviceIvshmem = 0x1110, kDeviceIvshmemDoorbell = 0x1111;

enum class IvshmemKind { Plain, Doorbell, Legacy };

struct IvshmemIdentity {
  IvshmemKind kind;
  uint8_t revision;
  bool msix;   // has the MSI-X capability (interrupts need a kernel driver)
  bool intx;   // declares an interrupt pin (interrupts through uio_pci_generic)
};

std::optional<IvshmemIdentity> identify_ivshmem(const PciFunction& fn);
std::string_view kind_name(IvshmemKind kind);

}  // namespace nahanni::guest
