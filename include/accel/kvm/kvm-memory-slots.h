// Guest RAM as KVM memory slots: listens to the machine's memory AddressSpace and mirrors every
// RAM range (main RAM, a mapped ivshmem BAR2) into a slot, removing and re-adding slots as the
// guest maps, moves and unmaps BARs. KVM allows slot changes while vCPUs run; a vCPU touching a
// range between removal and re-add exits to userspace as MMIO and sees the new flat view.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "system/memory.h"

namespace nahanni {

class KvmMemorySlots : public MemoryListener {
 public:
  KvmMemorySlots(int vm_fd, unsigned max_slots) : vm_fd_(vm_fd), slots_(max_slots) {}

  void ram_added(const FlatRange& range) override;
  void ram_removed(const FlatRange& range) override;

  struct Slot {
    uint64_t guest_address;
    uint64_t size;
    uint64_t host_address;
  };
  // The slots in use, for tests and diagnostics.
  std::vector<Slot> slots() const;

 private:
  int vm_fd_;
  std::vector<std::optional<Slot>> slots_;  // index = KVM slot number
};

}  // namespace nahanni
