#include "accel/kvm/kvm-memory-slots.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/log.h"

namespace nahanni {
namespace {

bool page_aligned(uint64_t v) { return (v & (static_cast<uint64_t>(::getpagesize()) - 1)) == 0; }

int set_slot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size, uint64_t host) {
  kvm_userspace_memory_region region{
      .slot = slot, .flags = 0, .guest_phys_addr = gpa, .memory_size = size, .userspace_addr = host};
  return ::ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &region);
}

}  // namespace

void KvmMemorySlots::ram_added(const FlatRange& range) {
  uint8_t* host = range.region->host();
  if (!host || range.size == 0) return;
  uint64_t host_address = reinterpret_cast<uint64_t>(host) + range.region_offset;
  // KVM maps whole pages; a RAM piece cut at a sub-page boundary stays on the MMIO path.
  if (!page_aligned(range.start) || !page_aligned(range.size) || !page_aligned(host_address)) {
    log::warnf("kvm: RAM range '{}' at 0x{:x}+0x{:x} is not page-aligned; accessed through exits",
               range.region->name(), range.start, range.size);
    return;
  }
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i]) continue;
    if (set_slot(vm_fd_, i, range.start, range.size, host_address) < 0) {
      log::errorf("kvm: cannot map '{}' at 0x{:x} (size 0x{:x}): {}", range.region->name(), range.start, range.size,
                  std::strerror(errno));
      return;
    }
    slots_[i] = Slot{range.start, range.size, host_address};
    return;
  }
  log::errorf("kvm: no free memory slot for '{}' at 0x{:x}", range.region->name(), range.start);
}

void KvmMemorySlots::ram_removed(const FlatRange& range) {
  uint8_t* host = range.region->host();
  if (!host) return;
  uint64_t host_address = reinterpret_cast<uint64_t>(host) + range.region_offset;
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    const auto& s = slots_[i];
    if (!s || s->guest_address != range.start || s->size != range.size || s->host_address != host_address) continue;
    if (set_slot(vm_fd_, i, range.start, 0, host_address) < 0)
      log::errorf("kvm: cannot unmap memory slot {}: {}", i, std::strerror(errno));
    slots_[i].reset();
    return;
  }
}

std::vector<KvmMemorySlots::Slot> KvmMemorySlots::slots() const {
  std::vector<Slot> out;
  for (const auto& s : slots_)
    if (s) out.push_back(*s);
  return out;
}

}  // namespace nahanni
