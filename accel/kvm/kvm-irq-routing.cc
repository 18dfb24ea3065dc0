#include "accel/kvm/kvm-irq-routing.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "accel/kvm/kvm-abi.h"

namespace nahanni {
namespace {

constexpr unsigned kIoapicPins = 24;
constexpr unsigned kPicCascade = 2;

kvm_irq_routing_entry irqchip_entry(unsigned gsi, unsigned chip, unsigned pin) {
  kvm_irq_routing_entry e{};
  e.gsi = gsi;
  e.type = KVM_IRQ_ROUTING_IRQCHIP;
  e.u.irqchip.irqchip = chip;
  e.u.irqchip.pin = pin;
  return e;
}

}  // namespace

KvmIrqRouting::~KvmIrqRouting() {
  for (const auto& [gsi, route] : msi_routes_) irqfd(route.fd, gsi, true);
}

Status KvmIrqRouting::init() { return commit(); }

Status KvmIrqRouting::commit() const {
  std::vector<kvm_irq_routing_entry> table;
  for (unsigned gsi = 0; gsi < 16; ++gsi)
    if (gsi != kPicCascade)
      table.push_back(irqchip_entry(gsi, gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE, gsi % 8));
  for (unsigned gsi = 0; gsi < kIoapicPins; ++gsi) {
    if (gsi == kPicCascade) continue;
    table.push_back(irqchip_entry(gsi, KVM_IRQCHIP_IOAPIC, gsi == 0 ? 2 : gsi));  // the PIT's IRQ 0 is pin 2
  }
  for (const auto& [gsi, route] : msi_routes_) {
    kvm_irq_routing_entry e{};
    e.gsi = gsi;
    e.type = KVM_IRQ_ROUTING_MSI;
    e.u.msi.address_lo = static_cast<uint32_t>(route.address);
    e.u.msi.address_hi = static_cast<uint32_t>(route.address >> 32);
    e.u.msi.data = route.data;
    table.push_back(e);
  }
  KvmList<kvm_irq_routing_entry> list{std::span<const kvm_irq_routing_entry>(table)};
  if (::ioctl(vm_fd_, kKvmSetGsiRouting, list.data()) < 0)
    return Error::format("kvm: KVM_SET_GSI_ROUTING failed: {}", std::strerror(errno));
  return {};
}

int KvmIrqRouting::irqfd(int fd, unsigned gsi, bool deassign) const {
  kvm_irqfd request{};
  request.fd = static_cast<__u32>(fd);
  request.gsi = gsi;
  request.flags = deassign ? KVM_IRQFD_FLAG_DEASSIGN : 0;
  return ::ioctl(vm_fd_, KVM_IRQFD, &request);
}

Result<unsigned> KvmIrqRouting::bind_msi_irqfd(int fd, uint64_t address, uint32_t data) {
  std::lock_guard lock(mutex_);
  unsigned gsi = kFirstMsiGsi;
  while (msi_routes_.count(gsi)) ++gsi;
  if (gsi >= max_routes_) return Error("kvm: no free GSI for an MSI route");
  msi_routes_[gsi] = MsiRoute{fd, address, data};
  if (Status st = commit(); !st) {
    msi_routes_.erase(gsi);
    return std::move(st).error();
  }
  if (irqfd(fd, gsi, false) < 0) {
    int err = errno;
    msi_routes_.erase(gsi);
    (void)commit();
    return Error::format("kvm: KVM_IRQFD failed: {}", std::strerror(err));
  }
  return gsi;
}

Status KvmIrqRouting::update_msi_irqfd(unsigned handle, uint64_t address, uint32_t data) {
  std::lock_guard lock(mutex_);
  auto it = msi_routes_.find(handle);
  if (it == msi_routes_.end()) return Error("kvm: unknown irqfd");
  if (it->second.address == address && it->second.data == data) return {};
  it->second.address = address;
  it->second.data = data;
  return commit();
}

void KvmIrqRouting::unbind_msi_irqfd(unsigned handle) {
  std::lock_guard lock(mutex_);
  auto it = msi_routes_.find(handle);
  if (it == msi_routes_.end()) return;
  irqfd(it->second.fd, handle, true);
  msi_routes_.erase(it);
  (void)commit();
}

size_t KvmIrqRouting::bound_count() const {
  std::lock_guard lock(mutex_);
  return msi_routes_.size();
}

}  // namespace nahanni
