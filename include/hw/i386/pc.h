// The "pc" machine (i440FX + PIIX, as QEMU's pc-i440fx): RAM below and above the PCI hole, the
// PCI root bus with configuration mechanism #1, the IOAPIC, fw_cfg, the MSI window, ACPI PCI
// hotplug and the reset and power-off registers.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "hw/core/machine.h"
#include "hw/i386/boot-image.h"
#include "hw/i386/x86-cpu-entry.h"
#include "hw/isa/isa-bus.h"
#include "hw/pci/pci-bus.h"
#include "system/memory.h"

namespace nahanni {

class IoApic;
class AcpiPciHotplug;
class FwCfg;

class PcMachine : public Machine {
 public:
  // Guest-physical layout.
  static constexpr uint64_t kPciHoleEnd = 0xfec00000;    // IOAPIC and LAPIC above
  static constexpr uint64_t kMsiWindow = 0xfee00000;     // writes here are MSIs
  static constexpr uint64_t kMsiWindowSize = 0x100000;
  static constexpr uint64_t kIoApicBase = 0xfec00000;
  static constexpr uint64_t kFourGiB = 1ull << 32;

  PcMachine();
  ~PcMachine() override;

  Status init(const MachineConfig& config) override;
  std::vector<Bus*> buses() override { return {pci_bus_.get(), isa_bus_.get()}; }
  void reset() override;
  AddressSpace* memory() override { return memory_as_.get(); }
  AddressSpace* io() override { return io_as_.get(); }

  PciBus& pci_bus() { return *pci_bus_; }
  IsaBus& isa_bus() { return *isa_bus_; }
  IoApic& ioapic() { return *ioapic_; }
  uint64_t below_4g_ram() const { return below_4g_; }
  uint64_t above_4g_ram() const { return above_4g_; }
  uint8_t* ram_host() const { return ram_host_; }
  // The GSI a PCI function's INTx pin reaches (PIRQ A..D on IOAPIC inputs 16..19).
  static unsigned intx_gsi(int devfn, int pin) { return 16 + (((devfn >> 3) + pin) & 3); }
  RamLayout ram_layout() const { return RamLayout{below_4g_, above_4g_}; }
  // What -kernel loaded (written to RAM again on every reset); empty without -kernel.
  const std::optional<BootImage>& boot_image() const { return boot_image_; }
  // Where the first vCPU starts, set by the boot loader (-kernel); empty without one.
  const std::optional<X86CpuEntry>& boot_entry() const { return boot_entry_; }
  void set_boot_entry(const X86CpuEntry& entry) { boot_entry_ = entry; }

 private:
  uint64_t below_4g_ = 0;
  uint64_t above_4g_ = 0;
  uint8_t* ram_host_ = nullptr;
  size_t ram_mapping_size_ = 0;
  std::unique_ptr<MemoryRegion> system_root_;
  std::unique_ptr<MemoryRegion> io_root_;
  std::unique_ptr<MemoryRegion> pci_memory_;
  std::unique_ptr<MemoryRegion> ram_low_;
  std::unique_ptr<MemoryRegion> ram_high_;
  std::unique_ptr<MemoryRegion> msi_window_;
  std::unique_ptr<MemoryRegion> config_address_;
  std::unique_ptr<MemoryRegion> config_data_;
  std::unique_ptr<MemoryRegion> reset_control_;
  std::unique_ptr<MemoryRegion> pm_control_;
  std::unique_ptr<AddressSpace> memory_as_;
  std::unique_ptr<AddressSpace> io_as_;
  std::unique_ptr<PciBus> pci_bus_;
  std::unique_ptr<IsaBus> isa_bus_;
  IoApic* ioapic_ = nullptr;
  std::unique_ptr<FwCfg> fw_cfg_;
  std::unique_ptr<AcpiPciHotplug> hotplug_;
  uint32_t config_address_latch_ = 0;
  std::optional<X86CpuEntry> boot_entry_;
  std::optional<BootImage> boot_image_;
};

}  // namespace nahanni
