#include "accel/kvm/kvm-ioeventfds.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "util/log.h"

namespace nahanni {

KvmIoeventfds::~KvmIoeventfds() {
  for (const AddressEventfd& e : bound_) assign(e, true);
}

int KvmIoeventfds::assign(const AddressEventfd& e, bool deassign) const {
  kvm_ioeventfd io{};
  io.datamatch = e.datamatch;
  io.addr = e.address;
  io.len = e.size;
  io.fd = e.fd;
  io.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | (pio_ ? KVM_IOEVENTFD_FLAG_PIO : 0) |
             (deassign ? KVM_IOEVENTFD_FLAG_DEASSIGN : 0);
  return ::ioctl(vm_fd_, KVM_IOEVENTFD, &io);
}

bool KvmIoeventfds::eventfd_added(const AddressEventfd& e) {
  if (assign(e, false) < 0) {
    // The device's own register write path still rings the peer: slower, not wrong. A server
    // announcing thousands of peers would otherwise log a line for each.
    if (refusal_logged_.insert(e.address).second)
      log::warnf("kvm: KVM_IOEVENTFD at 0x{:x} failed: {}; the doorbell stays in userspace (further failures at "
                 "this address are not logged; the device's status counts them as ioeventfd-declined)",
                 e.address, std::strerror(errno));
    return false;
  }
  bound_.push_back(e);
  return true;
}

void KvmIoeventfds::eventfd_removed(const AddressEventfd& e) {
  auto it = std::find(bound_.begin(), bound_.end(), e);
  if (it == bound_.end()) return;
  if (assign(e, true) < 0)
    log::warnf("kvm: KVM_IOEVENTFD deassign at 0x{:x} failed: {}", e.address, std::strerror(errno));
  bound_.erase(it);
}

}  // namespace nahanni
