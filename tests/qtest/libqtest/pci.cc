#include "pci.h"

#include <fmt/format.h>

namespace nahanni::qtest {

namespace {

constexpr uint16_t kConfigAddress = 0xcf8, kConfigData = 0xcfc;
constexpr uint16_t kAcpiPciEject = 0xae08;

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

uint32_t PciBus::config_read(int devfn, uint8_t offset, unsigned size) {
  // The byte offset stays in CF8[1:0] and the data port is always 0xcfc, as libqos does it.
  qts_->outl(kConfigAddress, 0x80000000u | static_cast<uint32_t>(devfn) << 8 | offset);
  switch (size) {
    case 1: return qts_->inb(kConfigData);
    case 2: return qts_->inw(kConfigData);
    default: return qts_->inl(kConfigData);
  }
}

void PciBus::config_write(int devfn, uint8_t offset, uint32_t value, unsigned size) {
  qts_->outl(kConfigAddress, 0x80000000u | static_cast<uint32_t>(devfn) << 8 | offset);
  switch (size) {
    case 1: qts_->outb(kConfigData, static_cast<uint8_t>(value)); break;
    case 2: qts_->outw(kConfigData, static_cast<uint16_t>(value)); break;
    default: qts_->outl(kConfigData, value); break;
  }
}

void PciBus::device_foreach(uint16_t vendor, uint16_t device, const std::function<void(PciDevice)>& fn) {
  for (int devfn = 0; devfn < 256; ++devfn) {
    uint16_t v = static_cast<uint16_t>(config_read(devfn, pci::kVendorId, 2));
    if (v == 0xffff) continue;
    if (vendor != 0xffff && v != vendor) continue;
    if (device != 0xffff && config_read(devfn, pci::kDeviceId, 2) != device) continue;
    fn(PciDevice(*this, devfn));
  }
}

std::optional<PciDevice> PciBus::find(uint16_t vendor, uint16_t device) {
  std::optional<PciDevice> found;
  device_foreach(vendor, device, [&](PciDevice d) {
    if (!found) found = d;
  });
  return found;
}

uint64_t PciBus::alloc_mmio(uint64_t size) {
  uint64_t addr = align_up(mmio_next_, size);
  if (addr + size > mmio_end_) throw QTestError(fmt::format("PCI memory window full (BAR of 0x{:x} bytes)", size));
  mmio_next_ = addr + size;
  return addr;
}

uint64_t PciBus::alloc_pio(uint64_t size) {
  uint64_t addr = align_up(pio_next_, size);
  if (addr + size > pio_end_) throw QTestError(fmt::format("PCI I/O window full (BAR of 0x{:x} bytes)", size));
  pio_next_ = addr + size;
  return addr;
}

uint8_t PciDevice::config_readb(uint8_t o) { return static_cast<uint8_t>(bus_->config_read(devfn_, o, 1)); }
uint16_t PciDevice::config_readw(uint8_t o) { return static_cast<uint16_t>(bus_->config_read(devfn_, o, 2)); }
uint32_t PciDevice::config_readl(uint8_t o) { return bus_->config_read(devfn_, o, 4); }
void PciDevice::config_writeb(uint8_t o, uint8_t v) { bus_->config_write(devfn_, o, v, 1); }
void PciDevice::config_writew(uint8_t o, uint16_t v) { bus_->config_write(devfn_, o, v, 2); }
void PciDevice::config_writel(uint8_t o, uint32_t v) { bus_->config_write(devfn_, o, v, 4); }

void PciDevice::enable() {
  uint16_t want = pci::kCommandIo | pci::kCommandMemory | pci::kCommandMaster;
  config_writew(pci::kCommand, config_readw(pci::kCommand) | want);
  uint16_t got = config_readw(pci::kCommand);
  if ((got & want) != want) throw QTestError(fmt::format("PCI command register kept 0x{:x} of 0x{:x}", got, want));
}

uint8_t PciDevice::find_capability(uint8_t id, uint8_t start) {
  uint8_t at = start ? config_readb(static_cast<uint8_t>(start + 1)) : config_readb(pci::kCapabilityList);
  // A bounded walk: a broken list must not hang the test.
  for (int hops = 0; at && hops < 48; ++hops) {
    if (config_readb(at) == id) return at;
    at = config_readb(static_cast<uint8_t>(at + 1));
  }
  return 0;
}

PciBar PciDevice::iomap(int n) {
  if (n < 0 || n > 5) throw QTestError(fmt::format("no BAR {}", n));
  auto reg = static_cast<uint8_t>(0x10 + 4 * n);
  config_writel(reg, 0xffffffff);
  uint32_t low = config_readl(reg);
  PciBar bar;
  bar.is_io = low & 1;
  bool is64 = !bar.is_io && ((low >> 1) & 3) == 2;
  uint32_t low_mask = bar.is_io ? (low & ~0x3u) : (low & ~0xfu);
  if (low_mask == 0 && !is64) throw QTestError(fmt::format("BAR {} is not implemented", n));
  uint64_t mask = low_mask;
  if (is64) {
    config_writel(static_cast<uint8_t>(reg + 4), 0xffffffff);
    mask |= static_cast<uint64_t>(config_readl(static_cast<uint8_t>(reg + 4))) << 32;
  } else if (!bar.is_io) {
    mask |= 0xffffffff00000000ull;
  } else {
    mask |= 0xffffffffffff0000ull;  // ports: a 16-bit space
  }
  bar.size = mask & (~mask + 1);
  if (bar.size == 0) throw QTestError(fmt::format("BAR {} has size 0", n));
  bar.addr = bar.is_io ? bus_->alloc_pio(bar.size) : bus_->alloc_mmio(bar.size);
  config_writel(reg, static_cast<uint32_t>(bar.addr) | (bar.is_io ? 1 : 0));
  if (is64) config_writel(static_cast<uint8_t>(reg + 4), static_cast<uint32_t>(bar.addr >> 32));
  return bar;
}

uint8_t PciDevice::bar_readb(const PciBar& b, uint64_t off) {
  QTestState& q = bus_->qts();
  return b.is_io ? q.inb(static_cast<uint16_t>(b.addr + off)) : q.readb(b.addr + off);
}
uint16_t PciDevice::bar_readw(const PciBar& b, uint64_t off) {
  QTestState& q = bus_->qts();
  return b.is_io ? q.inw(static_cast<uint16_t>(b.addr + off)) : q.readw(b.addr + off);
}
uint32_t PciDevice::bar_readl(const PciBar& b, uint64_t off) {
  QTestState& q = bus_->qts();
  return b.is_io ? q.inl(static_cast<uint16_t>(b.addr + off)) : q.readl(b.addr + off);
}
uint64_t PciDevice::bar_readq(const PciBar& b, uint64_t off) {
  if (!b.is_io) return bus_->qts().readq(b.addr + off);
  return bar_readl(b, off) | static_cast<uint64_t>(bar_readl(b, off + 4)) << 32;
}
void PciDevice::bar_writeb(const PciBar& b, uint64_t off, uint8_t v) {
  QTestState& q = bus_->qts();
  b.is_io ? q.outb(static_cast<uint16_t>(b.addr + off), v) : q.writeb(b.addr + off, v);
}
void PciDevice::bar_writew(const PciBar& b, uint64_t off, uint16_t v) {
  QTestState& q = bus_->qts();
  b.is_io ? q.outw(static_cast<uint16_t>(b.addr + off), v) : q.writew(b.addr + off, v);
}
void PciDevice::bar_writel(const PciBar& b, uint64_t off, uint32_t v) {
  QTestState& q = bus_->qts();
  b.is_io ? q.outl(static_cast<uint16_t>(b.addr + off), v) : q.writel(b.addr + off, v);
}
void PciDevice::bar_writeq(const PciBar& b, uint64_t off, uint64_t v) {
  if (!b.is_io) return bus_->qts().writeq(b.addr + off, v);
  bar_writel(b, off, static_cast<uint32_t>(v));
  bar_writel(b, off + 4, static_cast<uint32_t>(v >> 32));
}

uint8_t PciDevice::msix_cap() {
  uint8_t cap = find_capability(pci::kCapIdMsix);
  if (!cap) throw QTestError(fmt::format("device {:02x}.{} has no MSI-X capability", slot(), devfn_ & 7));
  return cap;
}

void PciDevice::msix_enable() {
  uint8_t cap = msix_cap();
  auto ctrl_at = static_cast<uint8_t>(cap + 2);
  config_writew(ctrl_at, config_readw(ctrl_at) | pci::kMsixEnable);
  uint32_t table = config_readl(static_cast<uint8_t>(cap + 4));
  uint32_t pba = config_readl(static_cast<uint8_t>(cap + 8));
  msix_table_bar_ = iomap(static_cast<int>(table & 7));
  msix_table_off_ = table & ~7u;
  msix_pba_bar_ = (pba & 7) == (table & 7) ? msix_table_bar_ : iomap(static_cast<int>(pba & 7));
  msix_pba_off_ = pba & ~7u;
  msix_mapped_ = true;
}

void PciDevice::msix_disable() {
  auto ctrl_at = static_cast<uint8_t>(msix_cap() + 2);
  config_writew(ctrl_at, config_readw(ctrl_at) & ~pci::kMsixEnable);
}

bool PciDevice::msix_enabled() { return config_readw(static_cast<uint8_t>(msix_cap() + 2)) & pci::kMsixEnable; }

uint16_t PciDevice::msix_table_size() {
  return static_cast<uint16_t>((config_readw(static_cast<uint8_t>(msix_cap() + 2)) & 0x7ff) + 1);
}

bool PciDevice::msix_masked(int entry) {
  if (!msix_mapped_) throw QTestError("msix_masked before msix_enable");
  if (config_readw(static_cast<uint8_t>(msix_cap() + 2)) & pci::kMsixMaskAll) return true;
  return bar_readl(msix_table_bar_, msix_table_off_ + 16ull * entry + 12) & 1;
}

bool PciDevice::msix_pending(int entry) {
  if (!msix_mapped_) throw QTestError("msix_pending before msix_enable");
  uint32_t word = bar_readl(msix_pba_bar_, msix_pba_off_ + (entry / 32) * 4ull);
  return (word >> (entry % 32)) & 1;
}

void PciDevice::msix_set_entry(int entry, uint64_t address, uint32_t data, bool masked) {
  if (!msix_mapped_) throw QTestError("msix_set_entry before msix_enable");
  uint64_t at = msix_table_off_ + 16ull * entry;
  bar_writel(msix_table_bar_, at + 0, static_cast<uint32_t>(address));
  bar_writel(msix_table_bar_, at + 4, static_cast<uint32_t>(address >> 32));
  bar_writel(msix_table_bar_, at + 8, data);
  bar_writel(msix_table_bar_, at + 12, masked ? 1 : 0);
}

void acpi_unplug(QTestState& qts, const std::string& id, int slot) {
  nlohmann::json r = qts.qmp(nlohmann::json{{"execute", "device_del"}, {"arguments", {{"id", id}}}});
  if (!r.contains("return")) throw QTestError("device_del " + id + " failed: " + r.dump());
  qts.outl(kAcpiPciEject, 1u << slot);
  qts.qmp_eventwait("DEVICE_DELETED");
}

}  // namespace nahanni::qtest
