#include "accel/kvm/kvm-accel.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "accel/kvm/kvm-cpu-state.h"
#include "hw/i386/ioapic.h"
#include "hw/i386/pc.h"
#include "qom/type.h"
#include "system/machine-lock.h"
#include "system/main-loop.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "util/log.h"

namespace nahanni {
namespace {

// kernel-irqchip: QEMU's OnOffSplit. Only "on" can be honoured (the design has the in-kernel
// irqchip only); "off" and "split" fail the accelerator's initialisation with the reason.
PropertyInfo kernel_irqchip_property() {
  return PropertyInfo{
      .name = "kernel-irqchip",
      .type = "OnOffSplit",
      .description = "Configure KVM in-kernel irqchip (only 'on': PIC, IOAPIC and local APICs in the kernel)",
      .default_value = "\"on\"",
      .set = [](Object& o, std::string_view, const OptionValue& v) -> Status {
        if (v.text != "on" && v.text != "off" && v.text != "split")
          return Error::format("Parameter 'kernel-irqchip' does not accept value '{}'", v.text);
        static_cast<KvmAccel&>(o).set_kernel_irqchip(v.text);
        return {};
      },
      .get = [](const Object& o, nlohmann::json& out) { out = static_cast<const KvmAccel&>(o).kernel_irqchip(); },
  };
}

const TypeRegistration kKvmAccelType_{TypeInfo{
    .name = std::string(kKvmAccelType),
    .parent = std::string(kAccelType),
    .description = "KVM accelerator: vCPU threads on /dev/kvm with an in-kernel irqchip",
    .factory = make_factory<KvmAccel>(),
    .properties = {kernel_irqchip_property()},
    .user_creatable = false,
}};

Error vm_ioctl_failure(const char* what) {
  return Error::format("failed to initialize kvm: {}: {}", what, std::strerror(errno));
}

// A machine hook called on a vCPU thread (a device's reset or power register) runs on the main
// loop instead: it may stop and reset the vCPUs, the calling one included.
void route_to_main_loop(std::function<void()>& hook) {
  if (!hook) return;
  hook = [inner = std::move(hook)] {
    if (KvmVcpu::on_vcpu_thread()) main_loop().post(inner);
    else inner();
  };
}

}  // namespace

KvmAccel::KvmAccel() = default;

KvmAccel::~KvmAccel() { shutdown(); }

KvmAccel* current_kvm_accel() { return dynamic_cast<KvmAccel*>(current_accel()); }

Status KvmAccel::init(Machine& machine) {
  if (kernel_irqchip_ != "on")
    return Error::format("kernel-irqchip={} is not supported: nahanni's KVM accelerator always uses the in-kernel "
                         "irqchip (PIC, IOAPIC and local APICs)",
                         kernel_irqchip_);
  NN_ASSIGN_OR_RETURN(system_, KvmSystem::open());
  pc_ = dynamic_cast<PcMachine*>(&machine);
  if (!pc_ || !machine.memory()) {
    // Machine "none" (libvirt's probe: -machine none,accel=kvm:tcg): a VM with no RAM and no
    // vCPUs, as QEMU has; nothing runs in it.
    pc_ = nullptr;
    NN_ASSIGN_OR_RETURN(vm_, system_->create_vm());
    return {};
  }
  unsigned cpus = machine.cpu_count();
  if (cpus > system_->max_vcpus()) {
    // QEMU's two lines: the reason bare, then the errno of the failed initialisation.
    std::fprintf(stderr, "Number of SMP cpus requested (%u) exceeds the maximum cpus supported by KVM (%u)\n", cpus,
                 system_->max_vcpus());
    return Error::format("failed to initialize kvm: {}", std::strerror(EINVAL));
  }
  NN_ASSIGN_OR_RETURN(vm_, system_->create_vm());
  // Both before any vCPU exists, as KVM requires.
  uint64_t identity = kIdentityMapAddress;
  if (::ioctl(vm_.get(), KVM_SET_IDENTITY_MAP_ADDR, &identity) < 0) return vm_ioctl_failure("KVM_SET_IDENTITY_MAP_ADDR");
  if (::ioctl(vm_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(kTssAddress)) < 0)
    return vm_ioctl_failure("KVM_SET_TSS_ADDR");
  if (::ioctl(vm_.get(), KVM_CREATE_IRQCHIP, 0) < 0) return vm_ioctl_failure("KVM_CREATE_IRQCHIP");
  kvm_pit_config pit{};
  if (::ioctl(vm_.get(), KVM_CREATE_PIT2, &pit) < 0) return vm_ioctl_failure("KVM_CREATE_PIT2");

  routing_ = std::make_unique<KvmIrqRouting>(vm_.get(), static_cast<unsigned>(system_->check_extension(KVM_CAP_IRQ_ROUTING)));
  if (Status st = routing_->init(); !st) return Error::format("failed to initialize kvm: {}", st.error().message());

  machine_ = &machine;
  slots_ = std::make_unique<KvmMemorySlots>(vm_.get(), system_->memory_slots());
  machine.memory()->add_listener(slots_.get());
  mmio_ioeventfds_ = std::make_unique<KvmIoeventfds>(vm_.get(), false);
  machine.memory()->add_listener(mmio_ioeventfds_.get());
  if (machine.io()) {
    pio_ioeventfds_ = std::make_unique<KvmIoeventfds>(vm_.get(), true);
    machine.io()->add_listener(pio_ioeventfds_.get());
  }
  // The in-kernel IOAPIC owns the interrupt state; the userspace model only forwards levels.
  pc_->ioapic().set_sink([this](size_t gsi, int level) { set_irq_line(static_cast<unsigned>(gsi), level); });
  return {};
}

void KvmAccel::set_irq_line(unsigned gsi, int level) {
  kvm_irq_level irq{};
  irq.irq = gsi;
  irq.level = level ? 1 : 0;
  if (::ioctl(vm_.get(), KVM_IRQ_LINE, &irq) < 0) log::errorf("kvm: KVM_IRQ_LINE {} failed: {}", gsi, std::strerror(errno));
}

void KvmAccel::deliver_msi(uint64_t address, uint32_t data) {
  kvm_msi msi{};
  msi.address_lo = static_cast<uint32_t>(address);
  msi.address_hi = static_cast<uint32_t>(address >> 32);
  msi.data = data;
  // 0: the guest blocked it (e.g. no LAPIC accepts it); only an error is worth a line.
  if (::ioctl(vm_.get(), KVM_SIGNAL_MSI, &msi) < 0)
    log::errorf("kvm: KVM_SIGNAL_MSI 0x{:x}/0x{:x} failed: {}", address, data, std::strerror(errno));
}

Status KvmAccel::machine_ready() {
  if (!pc_) return {};  // machine "none": no vCPUs
  if (!pc_->boot_entry())
    return Error("nahanni has no firmware: boot a kernel with -kernel (a PVH ELF or a Linux bzImage)");
  route_to_main_loop(machine_->on_guest_reset);
  route_to_main_loop(machine_->on_guest_poweroff);
  NN_TRY(create_vcpus());
  reset_vcpus();
  KvmVcpuEvents events{
      .guest_reset = [this] { main_loop().post([this] { if (machine_->on_guest_reset) machine_->on_guest_reset(); }); },
      .guest_poweroff = [this] {
        main_loop().post([this] { if (machine_->on_guest_poweroff) machine_->on_guest_poweroff(); });
      },
      .fatal = [this](const std::string& message) { main_loop().post([this, message] { on_fatal_exit(message); }); },
  };
  for (auto& vcpu : vcpus_) vcpu->start_thread(*machine_, events);
  return {};
}

Status KvmAccel::create_vcpus() {
  unsigned count = machine_->cpu_count();
  for (unsigned i = 0; i < count; ++i) {
    NN_ASSIGN_OR_RETURN(auto vcpu, KvmVcpu::create(vm_.get(), i, system_->vcpu_mmap_size()));
    NN_TRY(kvm_set_cpuid(vcpu->fd(), kvm_vcpu_cpuid(system_->supported_cpuid(), i, count)));
    vcpus_.push_back(std::move(vcpu));
  }
  return {};
}

void KvmAccel::reset_vcpus() {
  for (auto& vcpu : vcpus_) {
    Status st = kvm_reset_vcpu(vcpu->fd(), vcpu->index());
    if (st && vcpu->index() == 0 && pc_->boot_entry()) st = kvm_load_entry(vcpu->fd(), *pc_->boot_entry());
    if (!st) log::error(st.error());
    vcpu->clear_halt();
  }
}

void KvmAccel::on_fatal_exit(const std::string& message) {
  log::error(message);
  // QEMU stops in "internal-error" and waits; nahanni ends the run with exit status 1, so a
  // test or script sees the failure (docs/system/accel-kvm.rst).
  request_exit(1);
}

Status KvmAccel::start() {
  running_ = true;
  for (auto& vcpu : vcpus_) vcpu->resume();
  return {};
}

void KvmAccel::stop() {
  running_ = false;
  for (auto& vcpu : vcpus_) vcpu->pause();
}

void KvmAccel::reset() {
  for (auto& vcpu : vcpus_) vcpu->pause();
  reset_vcpus();
  if (running_)
    for (auto& vcpu : vcpus_) vcpu->resume();
}

void KvmAccel::shutdown() {
  running_ = false;
  for (auto& vcpu : vcpus_) vcpu->quit();
  vcpus_.clear();
  if (pc_ && machine_) pc_->ioapic().set_sink(nullptr);
  if (machine_ && machine_->memory()) {
    if (slots_) machine_->memory()->remove_listener(slots_.get());
    if (mmio_ioeventfds_) machine_->memory()->remove_listener(mmio_ioeventfds_.get());
  }
  if (machine_ && machine_->io() && pio_ioeventfds_) machine_->io()->remove_listener(pio_ioeventfds_.get());
  slots_.reset();
  mmio_ioeventfds_.reset();
  pio_ioeventfds_.reset();
  routing_.reset();
  machine_ = nullptr;
  vm_.reset();
  system_.reset();
}

}  // namespace nahanni
