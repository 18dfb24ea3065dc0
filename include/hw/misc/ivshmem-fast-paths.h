// The doorbell device's fast paths, accelerator-neutral: the device never sees an ioctl.
// - ioeventfd: each peer's eventfd for each vector is attached to the Doorbell register as a
//   region eventfd (4 bytes, value (peer << 16) | vector, as QEMU does). An accelerator that
//   listens to the address space binds it in the kernel while BAR0 is mapped and rebinds it
//   when the BAR moves; otherwise the write reaches the register and the device rings itself.
// - irqfd: each of our own vectors' eventfds is bound through the accelerator's IrqfdService to
//   the MSI of its MSI-X entry while the vector may fire; the route follows table rewrites. When
//   masked (or MSI-X off) the binding is released and the eventfd is polled again, so a ring
//   sets the pending bit in userspace; unmasking delivers the pending one and binds again.
// Without such an accelerator (qtest) only the userspace paths run.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "system/memory.h"

namespace nahanni {

class IvshmemServerLink;
class IrqfdService;
class Msix;

class IvshmemFastPaths {
 public:
  IvshmemFastPaths(MemoryRegion& doorbell_registers, uint64_t doorbell_offset, Msix* msix, IvshmemServerLink& link,
                   bool ioeventfd);
  ~IvshmemFastPaths();
  IvshmemFastPaths(const IvshmemFastPaths&) = delete;
  IvshmemFastPaths& operator=(const IvshmemFastPaths&) = delete;

  // Attaches and binds everything the link holds that is not yet (at start and reset).
  void sync_all();
  // The link accepted `peer`'s eventfd for `vector` (our own id included): attach that one.
  // Cost: a lookup and one eventfd announced, whatever the number of peers.
  void doorbell_added(uint32_t peer, unsigned vector, int fd);
  // Our vector's eventfd arrived, its MSI-X entry, its mask or the function's state changed.
  void sync_vector(unsigned vector);
  // Before the link closes `peer`'s eventfds, or all of them (a restarted server).
  void release_peer(uint32_t peer);
  void release_all();

  // Per vector: peers whose doorbell for it the kernel signals, those whose ioeventfd no
  // accelerator took (every one under qtest; under KVM those beyond the kernel's limit), which
  // the device rings itself, and whether our irqfd is bound.
  void status(nlohmann::json& out) const;

 private:
  struct Irqfd {
    unsigned handle;
    int fd;
    uint64_t address;
    uint32_t data;
  };
  void unbind_irqfd(unsigned vector);
  IrqfdService* service() const;

  MemoryRegion& registers_;
  uint64_t doorbell_offset_;
  Msix* msix_;
  IvshmemServerLink& link_;
  bool ioeventfd_;
  std::map<std::pair<uint32_t, unsigned>, MemoryRegionEventfd> doorbells_;  // (peer, vector) -> attached
  std::vector<std::optional<Irqfd>> irqfds_;
  IrqfdService* bound_service_ = nullptr;  // the service the irqfds were bound with
  bool irqfd_failed_logged_ = false;
};

}  // namespace nahanni
