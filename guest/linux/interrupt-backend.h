// How a guest program learns that a peer rang its ivshmem device. One interface, several
// ways, because what works depends on the device and on what the guest kernel offers:
//   uio        INTx through uio_pci_generic (/dev/uioN): devices with an interrupt pin, i.e.
//              nahanni's ivshmem-doorbell,msi=off and the legacy device. Blocks.
//   poll       nahanni revision-2 devices: the RungVectors register (BAR0 0x20), read-to-clear.
//   msix-poll  QEMU's revision-1 doorbell, which has MSI-X only and no pin: MSI-X is enabled
//              with every vector masked, so rings latch in the Pending Bit Array (BAR1),
//              which is polled; a pending bit is cleared by unmasking and re-masking its
//              vector while Bus Master is off, so the message goes nowhere.
//   kmod       the nahanni_ivshmem kernel module (guest/linux/kmod): MSI-X or INTx delivered
//              to /dev/ivshmemN, waited for with an ioctl. Blocks. The only backend once the
//              module is bound (the kernel then owns the BARs).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ivshmem-device.h"

namespace nahanni::guest {

class InterruptBackend {
 public:
  virtual ~InterruptBackend() = default;
  virtual std::string_view name() const = 0;
  // Waits until a peer rings this device or the timeout passes. Returns the rung vectors as
  // a bit mask (bit 0 alone when the backend cannot tell vectors apart), or 0 on timeout.
  // Rings that arrive while nobody waits are kept (at least as one bit) for the next wait.
  virtual Result<uint32_t> wait(std::chrono::milliseconds timeout) = 0;
};

// The backend names open_interrupt_backend accepts, "auto" first.
const std::vector<std::string_view>& interrupt_backend_names();
// Opens backend `name` for dev; "auto" picks the first that suits the device: kmod when the
// module drives it, uio for a device with an interrupt pin bound to uio_pci_generic, poll for
// revision 2, msix-poll for MSI-X, and last uio (whose error says how to bind). The error
// explains why a named backend cannot serve this device.
Result<std::unique_ptr<InterruptBackend>> open_interrupt_backend(IvshmemDevice& dev, std::string_view name);

std::unique_ptr<InterruptBackend> make_poll_backend(IvshmemDevice& dev);
Result<std::unique_ptr<InterruptBackend>> make_uio_backend(IvshmemDevice& dev);
Result<std::unique_ptr<InterruptBackend>> make_msix_poll_backend(IvshmemDevice& dev);
Result<std::unique_ptr<InterruptBackend>> make_kmod_backend(IvshmemDevice& dev);

}  // namespace nahanni::guest
