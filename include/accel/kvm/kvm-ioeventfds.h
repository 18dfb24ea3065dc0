// Doorbell-style eventfds of mapped I/O regions bound with KVM_IOEVENTFD: a guest write that
// matches address, length and value signals the eventfd inside the kernel, without an exit.
// Listens to an address space (MMIO, or port I/O with `pio`); a moved BAR is a removal (deassign)
// then an addition (assign) at the new address. When the kernel refuses one (its I/O bus holds
// about a thousand), the doorbell stays in userspace; only the first refusal at each address
// (one device's Doorbell register) is logged, the device's status counts them all.
#pragma once

#include <cstdint>
#include <set>
#include <vector>

#include "system/memory.h"

namespace nahanni {

class KvmIoeventfds : public MemoryListener {
 public:
  KvmIoeventfds(int vm_fd, bool pio) : vm_fd_(vm_fd), pio_(pio) {}
  ~KvmIoeventfds() override;

  void ram_added(const FlatRange&) override {}
  void ram_removed(const FlatRange&) override {}
  bool eventfd_added(const AddressEventfd& e) override;
  void eventfd_removed(const AddressEventfd& e) override;

  const std::vector<AddressEventfd>& bound() const { return bound_; }

 private:
  int assign(const AddressEventfd& e, bool deassign) const;

  int vm_fd_;
  bool pio_;
  std::vector<AddressEventfd> bound_;
  std::set<uint64_t> refusal_logged_;  // addresses whose first refusal was logged
};

}  // namespace nahanni
