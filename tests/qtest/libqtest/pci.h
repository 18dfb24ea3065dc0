// PCI through qtest, as QEMU's libqos does it on the pc machine: configuration space through
// ports 0xcf8/0xcfc (any width at any offset: CF8[1:0] selects the byte), BARs sized by writing
// all ones and placed by a bump allocator (memory from 0xE0000000, I/O from 0xc000), MSI-X table
// and PBA access, and the ACPI unplug sequence.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "libqtest.h"

namespace nahanni::qtest {

namespace pci {
constexpr uint8_t kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06, kCapabilityList = 0x34;
constexpr uint16_t kCommandIo = 0x1, kCommandMemory = 0x2, kCommandMaster = 0x4;
constexpr uint16_t kStatusCapList = 0x10;
constexpr uint8_t kCapIdMsix = 0x11;
constexpr uint16_t kMsixEnable = 0x8000, kMsixMaskAll = 0x4000;
}  // namespace pci

// A mapped BAR: where it is, in which space, and how big.
struct PciBar {
  uint64_t addr = 0;
  uint64_t size = 0;
  bool is_io = false;
};

class PciBus;

class PciDevice {
 public:
  PciDevice(PciBus& bus, int devfn) : bus_(&bus), devfn_(devfn) {}
  int devfn() const { return devfn_; }
  int slot() const { return devfn_ >> 3; }
  PciBus& bus() const { return *bus_; }

  uint8_t config_readb(uint8_t offset);
  uint16_t config_readw(uint8_t offset);
  uint32_t config_readl(uint8_t offset);
  void config_writeb(uint8_t offset, uint8_t value);
  void config_writew(uint8_t offset, uint16_t value);
  void config_writel(uint8_t offset, uint32_t value);
  uint16_t vendor_id() { return config_readw(pci::kVendorId); }
  uint16_t device_id() { return config_readw(pci::kDeviceId); }

  // Sets IO|MEMORY|MASTER in the command register and checks that all three stuck.
  void enable();
  // Offset of the first capability `id` after `start` (0: from the list head); 0 when absent.
  uint8_t find_capability(uint8_t id, uint8_t start = 0);
  // Sizes BAR `n` and assigns it the next free address (64-bit BARs: upper dword too).
  PciBar iomap(int n);

  // Accesses inside a BAR, in its space (ports or memory), little endian.
  uint8_t bar_readb(const PciBar& bar, uint64_t off);
  uint16_t bar_readw(const PciBar& bar, uint64_t off);
  uint32_t bar_readl(const PciBar& bar, uint64_t off);
  uint64_t bar_readq(const PciBar& bar, uint64_t off);
  void bar_writeb(const PciBar& bar, uint64_t off, uint8_t v);
  void bar_writew(const PciBar& bar, uint64_t off, uint16_t v);
  void bar_writel(const PciBar& bar, uint64_t off, uint32_t v);
  void bar_writeq(const PciBar& bar, uint64_t off, uint64_t v);

  // MSI-X: enable maps the table's (and the PBA's) BAR, as libqos does.
  void msix_enable();
  void msix_disable();
  bool msix_enabled();
  uint16_t msix_table_size();
  bool msix_masked(int entry);
  bool msix_pending(int entry);
  // Programs one table entry: message address, data, and the vector-control mask bit.
  void msix_set_entry(int entry, uint64_t address, uint32_t data, bool masked);
  const PciBar& msix_table_bar() const { return msix_table_bar_; }
  uint64_t msix_table_offset() const { return msix_table_off_; }

 private:
  uint8_t msix_cap();
  PciBus* bus_;
  int devfn_;
  PciBar msix_table_bar_, msix_pba_bar_;
  uint64_t msix_table_off_ = 0, msix_pba_off_ = 0;
  bool msix_mapped_ = false;
};

class PciBus {
 public:
  explicit PciBus(QTestState& qts) : qts_(&qts) {}
  QTestState& qts() const { return *qts_; }

  uint32_t config_read(int devfn, uint8_t offset, unsigned size);
  void config_write(int devfn, uint8_t offset, uint32_t value, unsigned size);

  // Calls `fn` for every function present on bus 0 matching vendor:device (0xffff matches any).
  void device_foreach(uint16_t vendor, uint16_t device, const std::function<void(PciDevice)>& fn);
  std::optional<PciDevice> find(uint16_t vendor, uint16_t device);
  PciDevice device_at(int slot, int fn = 0) { return PciDevice(*this, slot << 3 | fn); }

  // Bump allocation, aligned to the size; throws past the window's end.
  uint64_t alloc_mmio(uint64_t size);
  uint64_t alloc_pio(uint64_t size);

 private:
  QTestState* qts_;
  uint64_t mmio_next_ = 0xE0000000ull, mmio_end_ = 0x100000000ull;
  uint64_t pio_next_ = 0xc000, pio_end_ = 0x10000;
};

// The pc machine's ACPI unplug of a device in `slot`: device_del, the eject register write,
// then the DEVICE_DELETED event.
void acpi_unplug(QTestState& qts, const std::string& id, int slot);

}  // namespace nahanni::qtest
