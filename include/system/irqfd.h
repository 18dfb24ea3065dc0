// The MSI route / irqfd service an accelerator may offer devices: an eventfd bound to an MSI so
// that a signal on it interrupts the guest inside the kernel, without waking userspace (KVM:
// KVM_IRQFD on a GSI whose route is the MSI message). Devices use it only through this
// interface, and only while the vector may fire (MSI-X enabled, vector and function unmasked);
// when masked they release it and take the eventfd back to set the pending bit themselves.
#pragma once

#include <cstdint>

#include "util/error.h"

namespace nahanni {

class IrqfdService {
 public:
  virtual ~IrqfdService() = default;
  // Binds `fd` to the MSI (address, data); returns a handle.
  virtual Result<unsigned> bind_msi_irqfd(int fd, uint64_t address, uint32_t data) = 0;
  // The guest rewrote the vector's table entry: the same eventfd now delivers the new message.
  virtual Status update_msi_irqfd(unsigned handle, uint64_t address, uint32_t data) = 0;
  // Signals on the eventfd stay in it for userspace to read again.
  virtual void unbind_msi_irqfd(unsigned handle) = 0;
};

}  // namespace nahanni
