// The VM's GSI routing table and the MSI irqfds on it. KVM_SET_GSI_ROUTING replaces the whole
// table, so the table lives here: the legacy entries as QEMU sets them (GSI 0-15 on the PICs
// except the cascade, GSI 0-23 on the IOAPIC with GSI 0 on pin 2), then one MSI route per bound
// irqfd from GSI 24 up, rewritten in place when the guest changes the MSI-X entry.
#pragma once

#include <linux/kvm.h>

#include <map>
#include <mutex>

#include "system/irqfd.h"

namespace nahanni {

class KvmIrqRouting : public IrqfdService {
 public:
  static constexpr unsigned kFirstMsiGsi = 24;

  explicit KvmIrqRouting(int vm_fd, unsigned max_routes) : vm_fd_(vm_fd), max_routes_(max_routes) {}
  ~KvmIrqRouting() override;
  // Installs the legacy table.
  Status init();

  Result<unsigned> bind_msi_irqfd(int fd, uint64_t address, uint32_t data) override;
  Status update_msi_irqfd(unsigned handle, uint64_t address, uint32_t data) override;
  void unbind_msi_irqfd(unsigned handle) override;
  size_t bound_count() const;

 private:
  struct MsiRoute {
    int fd;
    uint64_t address;
    uint32_t data;
  };
  Status commit() const;
  int irqfd(int fd, unsigned gsi, bool deassign) const;

  int vm_fd_;
  unsigned max_routes_;
  mutable std::mutex mutex_;
  std::map<unsigned, MsiRoute> msi_routes_;  // GSI (the handle) -> route
};

}  // namespace nahanni
