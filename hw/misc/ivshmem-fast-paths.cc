#include "hw/misc/ivshmem-fast-paths.h"

#include <fcntl.h>

#include <nlohmann/json.hpp>

#include <algorithm>

#include "hw/core/machine.h"
#include "hw/misc/ivshmem-server-link.h"
#include "hw/pci/msix.h"
#include "system/accel.h"
#include "system/irqfd.h"
#include "util/log.h"

namespace nahanni {

IvshmemFastPaths::IvshmemFastPaths(MemoryRegion& doorbell_registers, uint64_t doorbell_offset, Msix* msix,
                                   IvshmemServerLink& link, bool ioeventfd)
    : registers_(doorbell_registers), doorbell_offset_(doorbell_offset), msix_(msix), link_(link),
      ioeventfd_(ioeventfd), irqfds_(msix ? msix->vectors() : 0) {}

IvshmemFastPaths::~IvshmemFastPaths() { release_all(); }

IrqfdService* IvshmemFastPaths::service() const {
  Accelerator* accel = current_accel();
  return accel ? accel->irqfds() : nullptr;
}

void IvshmemFastPaths::sync_all() {
  for (const auto& [peer, vector, fd] : link_.doorbell_eventfds()) doorbell_added(peer, vector, fd);
  for (unsigned v = 0; v < irqfds_.size(); ++v) sync_vector(v);
}

void IvshmemFastPaths::doorbell_added(uint32_t peer, unsigned vector, int fd) {
  if (!ioeventfd_) return;
  MemoryRegionEventfd e{.offset = doorbell_offset_, .size = 4,
                        .datamatch = (static_cast<uint64_t>(peer) << 16) | vector, .fd = fd};
  auto [it, added] = doorbells_.try_emplace({peer, vector}, e);
  if (!added) {
    if (it->second == e) return;
    registers_.del_eventfd(it->second);  // not expected: the link releases a peer before reusing its id
    it->second = e;
  }
  registers_.add_eventfd(e);
}

void IvshmemFastPaths::release_peer(uint32_t peer) {
  auto first = doorbells_.lower_bound({peer, 0});
  auto last = doorbells_.lower_bound({peer + 1, 0});
  for (auto it = first; it != last; ++it) registers_.del_eventfd(it->second);
  doorbells_.erase(first, last);
}

void IvshmemFastPaths::release_all() {
  for (const auto& [key, e] : doorbells_) registers_.del_eventfd(e);
  doorbells_.clear();
  for (unsigned v = 0; v < irqfds_.size(); ++v) unbind_irqfd(v);
}

void IvshmemFastPaths::unbind_irqfd(unsigned vector) {
  auto& bound = irqfds_[vector];
  if (!bound) return;
  if (bound_service_) bound_service_->unbind_msi_irqfd(bound->handle);
  bound.reset();
  // Rings now wait in the eventfd for userspace: the device sets the pending bit itself.
  link_.set_own_vector_polling(vector, true);
}

void IvshmemFastPaths::sync_vector(unsigned vector) {
  if (vector >= irqfds_.size()) return;
  IrqfdService* svc = service();
  int fd = link_.own_vector_fd(vector);
  auto& bound = irqfds_[vector];
  if (bound && (bound->fd != fd || svc != bound_service_)) unbind_irqfd(vector);
  bool may_fire = svc && fd >= 0 && msix_ && !msix_->vector_masked(vector);
  if (!may_fire) {
    unbind_irqfd(vector);
    return;
  }
  uint64_t address = msix_->address(vector);
  uint32_t data = msix_->data(vector);
  if (bound) {
    if (bound->address == address && bound->data == data) return;
    if (Status st = svc->update_msi_irqfd(bound->handle, address, data); !st) {
      log::warning(st.error().message());
      unbind_irqfd(vector);
      return;
    }
    bound->address = address;
    bound->data = data;
    return;
  }
  // The watch may be woken for a count the kernel already took: never block on reading it.
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  auto handle = svc->bind_msi_irqfd(fd, address, data);
  if (!handle) {
    if (!irqfd_failed_logged_) log::warnf("ivshmem: {}; interrupts stay in userspace", handle.error().message());
    irqfd_failed_logged_ = true;
    return;
  }
  bound_service_ = svc;
  bound = Irqfd{*handle, fd, address, data};
  link_.set_own_vector_polling(vector, false);
}

void IvshmemFastPaths::status(nlohmann::json& out) const {
  unsigned vectors = std::max<unsigned>(static_cast<unsigned>(irqfds_.size()), link_.own_vectors());
  std::vector<unsigned> in_kernel(vectors, 0), declined(vectors, 0);
  AddressSpace* memory = current_machine() ? current_machine()->memory() : nullptr;
  for (const auto& [key, e] : doorbells_) {
    unsigned v = key.second;
    if (v >= vectors || !memory || !memory->eventfd_mapped(e.fd)) continue;
    ++(memory->eventfd_taken(e.fd) ? in_kernel : declined)[v];
  }
  nlohmann::json list = nlohmann::json::array();
  for (unsigned v = 0; v < vectors; ++v)
    list.push_back({{"vector", v},
                    {"ioeventfd-peers", in_kernel[v]},
                    {"ioeventfd-declined", declined[v]},
                    {"irqfd", v < irqfds_.size() && irqfds_[v].has_value()}});
  out["fast-paths"] = list;
}

}  // namespace nahanni
