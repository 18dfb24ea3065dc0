// The "kvm" accelerator: /dev/kvm with an in-kernel irqchip (PIC, IOAPIC, LAPICs) and PIT, guest
// RAM as memory slots, one thread per vCPU. vCPU 0 starts from the boot loader's X86CpuEntry
// (there is no firmware); the others wait for INIT/SIPI. MSIs go in with KVM_SIGNAL_MSI, IOAPIC
// input changes with KVM_IRQ_LINE; region eventfds become KVM_IOEVENTFDs and devices may bind
// MSI irqfds (system/irqfd.h). See docs/system/accel-kvm.rst.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "accel/kvm/kvm-ioeventfds.h"
#include "accel/kvm/kvm-irq-routing.h"
#include "accel/kvm/kvm-memory-slots.h"
#include "accel/kvm/kvm-system.h"
#include "accel/kvm/kvm-vcpu.h"
#include "system/accel.h"

namespace nahanni {

class PcMachine;

class KvmAccel : public Accelerator {
 public:
  // VM-level pages x86 KVM needs below 4 GiB, where a BIOS would sit (nahanni has none).
  static constexpr uint64_t kIdentityMapAddress = 0xfffbc000;
  static constexpr uint64_t kTssAddress = 0xfffbd000;  // three pages (QEMU's addresses)

  KvmAccel();
  ~KvmAccel() override;

  Status init(Machine& machine) override;
  void deliver_msi(uint64_t address, uint32_t data) override;
  Status start() override;
  void stop() override;
  bool has_cpus() const override { return pc_ != nullptr; }
  Status machine_ready() override;
  void reset() override;
  void shutdown() override;
  IrqfdService* irqfds() override { return routing_.get(); }

  int vm_fd() const { return vm_.get(); }
  const KvmSystem& system() const { return *system_; }
  const std::vector<std::unique_ptr<KvmVcpu>>& vcpus() const { return vcpus_; }
  const KvmMemorySlots* memory_slots() const { return slots_.get(); }
  const KvmIoeventfds* mmio_ioeventfds() const { return mmio_ioeventfds_.get(); }
  const KvmIrqRouting* irq_routing() const { return routing_.get(); }
  // Raises or lowers an input of the in-kernel IOAPIC/PIC (KVM_IRQ_LINE).
  void set_irq_line(unsigned gsi, int level);
  // The "kernel-irqchip" property (QEMU's on/off/split); init() refuses all but "on".
  const std::string& kernel_irqchip() const { return kernel_irqchip_; }
  void set_kernel_irqchip(std::string value) { kernel_irqchip_ = std::move(value); }

 private:
  Status create_vcpus();
  void reset_vcpus();
  void on_fatal_exit(const std::string& message);

  Machine* machine_ = nullptr;
  PcMachine* pc_ = nullptr;
  std::unique_ptr<KvmSystem> system_;
  UniqueFd vm_;
  std::unique_ptr<KvmMemorySlots> slots_;
  std::unique_ptr<KvmIrqRouting> routing_;
  std::unique_ptr<KvmIoeventfds> mmio_ioeventfds_;
  std::unique_ptr<KvmIoeventfds> pio_ioeventfds_;
  std::vector<std::unique_ptr<KvmVcpu>> vcpus_;
  bool running_ = false;
  std::string kernel_irqchip_ = "on";
};

inline constexpr std::string_view kKvmAccelType = "kvm-accel";

// The KVM accelerator when it is the current one, else null.
KvmAccel* current_kvm_accel();

}  // namespace nahanni
