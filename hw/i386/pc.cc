#include "hw/i386/pc.h"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "hw/core/qdev-monitor.h"
#include "hw/i386/acpi-pcihp.h"
#include "hw/i386/fw-cfg.h"
#include "hw/i386/ioapic.h"
#include "hw/i386/kernel-loader.h"
#include "qom/type.h"
#include "system/accel.h"

namespace nahanni {
namespace {

constexpr uint16_t kPortConfigAddress = 0xcf8;
constexpr uint16_t kPortConfigData = 0xcfc;
constexpr uint16_t kPortResetControl = 0xcf9;
constexpr uint16_t kPortPm1Control = 0x604;  // PIIX4 PM I/O base 0x600 + 4, as QEMU's ACPI tables say
constexpr uint32_t kConfigEnable = 0x80000000u;
constexpr uint8_t kResetCpu = 0x04;
constexpr uint16_t kSleepEnable = 1u << 13;
constexpr uint64_t kLowMemLimit = 0xe0000000;
constexpr uint64_t kLowMemGigabyteAligned = 0xc0000000;

const TypeRegistration kPcType{TypeInfo{.name = "pc-i440fx-7.2-machine",
                                        .parent = std::string(kMachineType),
                                        .description = "Standard PC (i440FX + PIIX, 1996)",
                                        .factory = make_factory<PcMachine>(),
                                        .user_creatable = false}};
const MachineTypeRegistration kPcMachine{MachineTypeInfo{.name = "pc-i440fx-7.2",
                                                         .description = "Standard PC (i440FX + PIIX, 1996)",
                                                         .aliases = {"pc"},
                                                         .is_default = true,
                                                         // libvirt names versioned machines; all are this one.
                                                         .version_prefix = "pc-i440fx-"}};

const TypeRegistration kIoApicType{TypeInfo{.name = "ioapic", .parent = "object",
                                            .factory = make_factory<IoApic>(), .user_creatable = false}};

Status add_chipset_function(Machine& m, const char* type, const char* name, const char* addr, bool multifunction) {
  OptionList opts;
  opts.items.emplace_back("driver", OptionValue::from_text(type));
  opts.items.emplace_back("addr", OptionValue::from_text(addr));
  if (multifunction) opts.items.emplace_back("multifunction", OptionValue::from_text("on"));
  NN_ASSIGN_OR_RETURN(Device * dev, device_add(std::move(opts), OptionSource::Internal, false));
  // Chipset functions live under the machine, not among the user's peripherals.
  std::unique_ptr<Object> owned = dev->parent()->remove_child(dev->name());
  m.add_child(name, std::move(owned));
  return {};
}

}  // namespace

PcMachine::PcMachine() = default;

PcMachine::~PcMachine() {
  if (ram_host_) ::munmap(ram_host_, ram_mapping_size_);
}

Status PcMachine::init(const MachineConfig& config) {
  ram_size_ = config.ram_size;
  cpu_count_ = config.cpus;
  below_4g_ = ram_size_ >= kLowMemLimit ? kLowMemGigabyteAligned : ram_size_;
  above_4g_ = ram_size_ - below_4g_;

  ram_mapping_size_ = ram_size_;
  void* ram = ::mmap(nullptr, ram_mapping_size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  if (ram == MAP_FAILED)
    return Error::format("cannot set up guest memory 'pc.ram': {}", std::strerror(errno));
  ram_host_ = static_cast<uint8_t*>(ram);

  system_root_ = MemoryRegion::container("system", UINT64_MAX);
  io_root_ = MemoryRegion::container("io", 0x10000);
  pci_memory_ = MemoryRegion::container("pci-memory", UINT64_MAX);
  ram_low_ = MemoryRegion::ram("pc.ram", below_4g_, ram_host_);
  system_root_->add_subregion(0, ram_low_.get());
  if (above_4g_) {
    ram_high_ = MemoryRegion::ram("pc.ram-above-4g", above_4g_, ram_host_ + below_4g_);
    system_root_->add_subregion(kFourGiB, ram_high_.get());
  }
  // RAM wins where a guest programs a BAR over it.
  system_root_->add_subregion(0, pci_memory_.get(), -1);
  msi_window_ = MemoryRegion::io("msi", kMsiWindowSize,
                                 MemoryRegionOps{.read = [](uint64_t, unsigned) -> uint64_t { return 0; },
                                                 .write = [](uint64_t off, uint64_t v, unsigned) {
                                                   if (Accelerator* a = current_accel())
                                                     a->deliver_msi(kMsiWindow + off, static_cast<uint32_t>(v));
                                                 },
                                                 .min_access = 4,
                                                 .max_access = 4});
  system_root_->add_subregion(kMsiWindow, msi_window_.get(), 10);

  pci_bus_ = std::make_unique<PciBus>("pci.0", pci_memory_.get(), io_root_.get());
  // 0xcf8-0xcfb: only a dword access is the configuration address (PCI 3.0, 3.2.2.3.2); the
  // byte at 0xcf9 is the PIIX reset control register. One region serves both, so an outl to
  // 0xcf8 reaches the latch whole instead of being split around a separate 0xcf9 region.
  static_assert(kPortResetControl == kPortConfigAddress + 1);
  config_address_ = MemoryRegion::io(
      "pci-conf-idx", 4,
      MemoryRegionOps{.read = [this](uint64_t off, unsigned size) -> uint64_t {
                        if (off == 1 && size == 1) return 0;  // reset control
                        return config_address_latch_ >> (8 * off);
                      },
                      .write = [this](uint64_t off, uint64_t v, unsigned size) {
                        if (off == 0 && size == 4) config_address_latch_ = static_cast<uint32_t>(v);
                        else if (off == 1 && size == 1 && (v & kResetCpu) && on_guest_reset) on_guest_reset();
                      },
                      .min_access = 1,
                      .max_access = 4});
  config_data_ = MemoryRegion::io(
      "pci-conf-data", 4,
      MemoryRegionOps{.read = [this](uint64_t off, unsigned size) -> uint64_t {
                        uint32_t a = config_address_latch_;
                        if (!(a & kConfigEnable) || ((a >> 16) & 0xff) != 0) return (1ull << (8 * size)) - 1;
                        return pci_bus_->config_read((a >> 8) & 0xff, (a & 0xff) | static_cast<uint32_t>(off), size);
                      },
                      .write = [this](uint64_t off, uint64_t v, unsigned size) {
                        uint32_t a = config_address_latch_;
                        if (!(a & kConfigEnable) || ((a >> 16) & 0xff) != 0) return;
                        pci_bus_->config_write((a >> 8) & 0xff, (a & 0xff) | static_cast<uint32_t>(off),
                                               static_cast<uint32_t>(v), size);
                      },
                      .min_access = 1,
                      .max_access = 4});
  io_root_->add_subregion(kPortConfigAddress, config_address_.get());
  io_root_->add_subregion(kPortConfigData, config_data_.get());
  pm_control_ = MemoryRegion::io("pm1-control", 2,
                                 MemoryRegionOps{.read = [](uint64_t, unsigned) -> uint64_t { return 0; },
                                                 .write = [this](uint64_t, uint64_t v, unsigned) {
                                                   // SLP_EN with SLP_TYP 0: S5 on PIIX4, i.e. power off.
                                                   if ((v & kSleepEnable) && ((v >> 10) & 7) == 0 && on_guest_poweroff)
                                                     on_guest_poweroff();
                                                 },
                                                 .min_access = 2,
                                                 .max_access = 2});
  io_root_->add_subregion(kPortPm1Control, pm_control_.get());

  memory_as_ = std::make_unique<AddressSpace>("memory", system_root_.get(), 0);
  io_as_ = std::make_unique<AddressSpace>("I/O", io_root_.get(), 0xff);

  auto ioapic = TypeRegistry::instance().create("ioapic");
  ioapic_ = static_cast<IoApic*>(add_child("ioapic", std::move(ioapic)));
  pci_bus_->set_intx_router([this](int devfn, int pin, int level) { ioapic_->set_irq(intx_gsi(devfn, pin), level); });
  isa_bus_ = std::make_unique<IsaBus>("isa.0", io_root_.get(), ioapic_);

  fw_cfg_ = std::make_unique<FwCfg>();
  fw_cfg_->add_u64(FwCfg::kRamSize, ram_size_);
  fw_cfg_->add_u16(FwCfg::kNbCpus, static_cast<uint16_t>(cpu_count_));
  io_root_->add_subregion(FwCfg::kPortSelector, fw_cfg_->region());

  hotplug_ = std::make_unique<AcpiPciHotplug>(*pci_bus_);
  io_root_->add_subregion(AcpiPciHotplug::kBase, hotplug_->region());
  pci_bus_->set_unplug_request_handler([this](PciDevice& dev) { return hotplug_->request_unplug(dev); });

  set_current_machine(this);
  NN_TRY(add_chipset_function(*this, "i440FX", "i440fx", "0.0", false));
  NN_TRY(add_chipset_function(*this, "PIIX3", "piix3", "1.0", true));
  NN_TRY(add_chipset_function(*this, "PIIX4_PM", "piix4-pm", "1.3", false));

  // -kernel: loaded now, so a bad image ends start-up; written to RAM on every reset (below),
  // whatever the accelerator (under qtest, tests read back what was loaded).
  if (!config.kernel.empty()) {
    NN_ASSIGN_OR_RETURN(BootImage image,
                        load_kernel_files(KernelOptions{.kernel_path = config.kernel,
                                                        .initrd_path = config.initrd,
                                                        .cmdline = config.append,
                                                        .cpus = cpu_count_},
                                          ram_layout()));
    boot_image_ = std::move(image);
  }
  return {};
}

void PcMachine::reset() {
  hotplug_->reset();
  config_address_latch_ = 0;
  Machine::reset();
  if (boot_image_) {
    boot_image_->write_to(ram_layout(), ram_host_);
    set_boot_entry(boot_image_->entry);
  }
}

}  // namespace nahanni
