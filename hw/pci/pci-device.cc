#include "hw/pci/pci-device.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>

#include "hw/pci/pci-bus.h"
#include "qom/property.h"
#include "qom/type.h"

namespace nahanni {

using namespace pci;

namespace {

// "SLOT" or "SLOT.FN", hex with or without 0x, as QEMU's PCI "addr" property.
std::optional<int> parse_devfn(std::string_view text) {
  std::string s(text);
  std::string slot_part = s, fn_part;
  if (auto dot = s.find('.'); dot != std::string::npos) {
    slot_part = s.substr(0, dot);
    fn_part = s.substr(dot + 1);
    if (fn_part.empty()) return std::nullopt;
  }
  auto hex = [](const std::string& t) -> std::optional<unsigned long> {
    if (t.empty()) return std::nullopt;
    char* end = nullptr;
    unsigned long v = std::strtoul(t.c_str(), &end, 16);
    if (*end != '\0' || t[0] == '-' || t[0] == '+') return std::nullopt;
    return v;
  };
  auto slot = hex(slot_part);
  if (!slot || *slot >= 32) return std::nullopt;
  unsigned long fn = 0;
  if (!fn_part.empty()) {
    auto f = hex(fn_part);
    if (!f || *f >= 8) return std::nullopt;
    fn = *f;
  }
  return static_cast<int>(*slot << 3 | fn);
}

}  // namespace

PciDevice::PciDevice() = default;
PciDevice::~PciDevice() = default;

std::vector<PropertyInfo> pci_device_properties();

PciBus* PciDevice::pci_bus() const { return dynamic_cast<PciBus*>(parent_bus()); }

void PciDevice::set_identity(const PciIdentity& id) {
  identity_ = id;
  set16(kVendorId, id.vendor);
  set16(kDeviceId, id.device);
  config_[kRevision] = id.revision;
  config_[kClassProg] = id.class_prog;
  set16(kClassDevice, static_cast<uint16_t>(id.class_code));
  set16(kSubsystemVendorId, id.subsystem_vendor);
  set16(kSubsystemId, id.subsystem);
  config_[kInterruptPin] = id.interrupt_pin;
  config_[kHeaderType] = multifunction_ ? kHeaderTypeMultiFunction : 0;
}

Status PciDevice::pci_realize() {
  // No option ROMs: libvirt passes romfile="" to say so; anything else would be silently ignored.
  if (!romfile_.empty()) return Error::format("romfile '{}' is not supported: nahanni has no option ROMs", romfile_);
  // Writable header fields: command bits, cache line size, latency timer, interrupt line.
  set16(kCommand, 0);
  wmask_[kCommand] = static_cast<uint8_t>(kCommandIo | kCommandMemory | kCommandMaster | kCommandParity);
  wmask_[kCommand + 1] = static_cast<uint8_t>((kCommandSerr | kCommandIntxDisable) >> 8);
  w1cmask_[kStatus + 1] = static_cast<uint8_t>(kStatusW1cMask >> 8);
  wmask_[kCacheLineSize] = 0xff;
  wmask_[kLatencyTimer] = 0xff;
  wmask_[kInterruptLine] = 0xff;
  config_[kHeaderType] = multifunction_ ? kHeaderTypeMultiFunction : 0;
  return {};
}

void PciDevice::pci_unrealize() {
  for (int n = 0; n < kNumBars; ++n) {
    Bar& bar = bars_[n];
    if (bar.region && bar.mapped_at != kBarUnmapped) {
      PciBus* bus = pci_bus();
      MemoryRegion* window = (bar.type & kBarSpaceIo) ? bus->io_window() : bus->memory_window();
      window->del_subregion(bar.region);
      bar.mapped_at = kBarUnmapped;
    }
    bar.region = nullptr;
  }
  if (intx_asserted_) {
    if (PciBus* bus = pci_bus()) bus->route_intx(devfn_, identity_.interrupt_pin - 1, 0);
    intx_asserted_ = 0;
  }
}

void PciDevice::register_bar(int n, uint32_t type, MemoryRegion* region) {
  Bar& bar = bars_[n];
  bar.region = region;
  bar.type = type;
  uint64_t size = region->size();
  uint32_t off = kBar0 + 4 * n;
  uint64_t mask = ~(size - 1);
  if (type & kBarSpaceIo) {
    set32(off, type);
    uint32_t wm = static_cast<uint32_t>(mask) & ~uint32_t{0x3};
    for (int i = 0; i < 4; ++i) wmask_[off + i] = static_cast<uint8_t>(wm >> (8 * i));
    return;
  }
  set32(off, type);
  uint32_t wm = static_cast<uint32_t>(mask) & ~uint32_t{0xf};
  for (int i = 0; i < 4; ++i) wmask_[off + i] = static_cast<uint8_t>(wm >> (8 * i));
  if (type & kBarMemType64) {
    uint32_t hi = static_cast<uint32_t>(mask >> 32);
    set32(off + 4, 0);
    for (int i = 0; i < 4; ++i) wmask_[off + 4 + i] = static_cast<uint8_t>(hi >> (8 * i));
  }
}

uint8_t PciDevice::add_capability(uint8_t id, uint8_t size) {
  uint8_t offset = next_cap_;
  next_cap_ = static_cast<uint8_t>(next_cap_ + ((size + 3) & ~3));
  config_[offset] = id;
  config_[offset + 1] = config_[kCapabilityList];  // new capabilities go to the list's head
  config_[kCapabilityList] = offset;
  set16(kStatus, get16(kStatus) | kStatusCapList);
  return offset;
}

uint32_t PciDevice::config_read(uint32_t offset, unsigned len) {
  if (offset >= kConfigSize || offset + len > kConfigSize) return ~uint32_t{0};
  uint32_t v = 0;
  for (unsigned i = 0; i < len; ++i) v |= static_cast<uint32_t>(config_[offset + i]) << (8 * i);
  return v;
}

void PciDevice::config_write(uint32_t offset, uint32_t value, unsigned len) {
  if (offset >= kConfigSize || offset + len > kConfigSize) return;
  bool touches_bars = false, touches_command = false;
  for (unsigned i = 0; i < len; ++i) {
    uint32_t a = offset + i;
    uint8_t b = static_cast<uint8_t>(value >> (8 * i));
    config_[a] = static_cast<uint8_t>((config_[a] & ~wmask_[a]) | (b & wmask_[a]));
    config_[a] &= static_cast<uint8_t>(~(b & w1cmask_[a]));
    if (a >= kBar0 && a < kBar0 + 24) touches_bars = true;
    if (a == kCommand || a == kCommand + 1) touches_command = true;
  }
  if (touches_bars || touches_command) update_mappings();
  if (touches_command) update_intx();
  config_written(offset, value, len);
}

uint64_t PciDevice::decode_bar(int n) const {
  const Bar& bar = bars_[n];
  if (!bar.region) return kBarUnmapped;
  uint16_t cmd = get16(kCommand);
  uint64_t size = bar.region->size();
  uint32_t off = kBar0 + 4 * n;
  if (bar.type & kBarSpaceIo) {
    if (!(cmd & kCommandIo)) return kBarUnmapped;
    uint64_t addr = get32(off) & ~uint32_t{0x3} & ~static_cast<uint32_t>(size - 1);
    uint64_t last = addr + size - 1;
    if (addr == 0 || last > 0xffff) return kBarUnmapped;
    return addr;
  }
  if (!(cmd & kCommandMemory)) return kBarUnmapped;
  uint64_t addr = get32(off) & ~uint32_t{0xf};
  if (bar.type & kBarMemType64) addr |= static_cast<uint64_t>(get32(off + 4)) << 32;
  addr &= ~(size - 1);
  uint64_t last = addr + size - 1;
  if (addr == 0 || last < addr || last == kBarUnmapped) return kBarUnmapped;
  if (!(bar.type & kBarMemType64) && last >= 0xffffffffull) return kBarUnmapped;
  return addr;
}

void PciDevice::update_mappings() {
  PciBus* bus = pci_bus();
  if (!bus) return;
  for (int n = 0; n < kNumBars; ++n) {
    Bar& bar = bars_[n];
    if (!bar.region) continue;
    uint64_t addr = decode_bar(n);
    if (addr == bar.mapped_at) continue;
    MemoryRegion* window = (bar.type & kBarSpaceIo) ? bus->io_window() : bus->memory_window();
    if (bar.mapped_at != kBarUnmapped) window->del_subregion(bar.region);
    bar.mapped_at = addr;
    if (addr != kBarUnmapped) window->add_subregion(addr, bar.region);
    bar_mapping_changed(n);
  }
}

void PciDevice::set_intx(int level) {
  intx_level_ = level ? 1 : 0;
  update_intx();
}

void PciDevice::update_intx() {
  uint16_t status = get16(kStatus);
  status = intx_level_ ? (status | kStatusInterrupt) : (status & ~kStatusInterrupt);
  set16(kStatus, status);
  int effective = intx_level_ && !(get16(kCommand) & kCommandIntxDisable) ? 1 : 0;
  if (effective == intx_asserted_ || identity_.interrupt_pin == 0) return;
  intx_asserted_ = effective;
  if (PciBus* bus = pci_bus()) bus->route_intx(devfn_, identity_.interrupt_pin - 1, effective);
}

void PciDevice::reset() {
  // Decoding off, BAR addresses cleared (type bits kept), errors and INTx cleared.
  set16(kCommand, 0);
  set16(kStatus, get16(kStatus) & kStatusCapList);
  for (int n = 0; n < kNumBars; ++n) {
    if (!bars_[n].region) continue;
    uint32_t off = kBar0 + 4 * n;
    set32(off, bars_[n].type);
    if (bars_[n].type & kBarMemType64) set32(off + 4, 0);
  }
  config_[kCacheLineSize] = 0;
  config_[kLatencyTimer] = 0;
  config_[kInterruptLine] = 0;  // as QEMU: firmware assigns it again after a reset
  update_mappings();
  intx_level_ = 0;
  update_intx();
}

std::vector<PropertyInfo> pci_device_properties() {
  PropertyInfo addr{.name = "addr", .type = "int32",
                    .description = "Slot and optional function number, example: 06.0 or 06",
                    .default_value = "-1"};
  addr.set = [](Object& o, std::string_view n, const OptionValue& v) -> Status {
    auto& dev = static_cast<PciDevice&>(o);
    if (v.kind == OptionValue::Kind::JsonInt || v.kind == OptionValue::Kind::JsonUInt) {
      int64_t x = v.kind == OptionValue::Kind::JsonInt ? v.integer : static_cast<int64_t>(v.uinteger);
      if (x < -1 || x > 255)
        return Error::format("Property '{}.{}' doesn't take value '{}'", o.type_name(), n, v.display());
      dev.addr_ = static_cast<int32_t>(x);
      return {};
    }
    NN_ASSIGN_OR_RETURN(std::string text, parse_string_value(n, v));
    auto parsed = parse_devfn(text);
    if (!parsed) return Error::format("Property '{}.{}' doesn't take value '{}'", o.type_name(), n, text);
    dev.addr_ = *parsed;
    return {};
  };
  addr.get = [](const Object& o, nlohmann::json& out) { out = static_cast<const PciDevice&>(o).addr_; };
  return {
      addr,
      bool_property<PciDevice>("multifunction", &PciDevice::multifunction_, "on/off", false),
      string_property<PciDevice>("romfile", &PciDevice::romfile_, ""),
      uint_property<PciDevice, uint32_t>("rombar", &PciDevice::rombar_, "", 1u),
  };
}

namespace {
const TypeRegistration kPciDeviceTypeReg{TypeInfo{.name = std::string(kPciDeviceType),
                                                  .parent = std::string(kDeviceType),
                                                  .abstract = true,
                                                  .properties = pci_device_properties(),
                                                  .bus_type = "PCI",
                                                  .user_creatable = false}};
}  // namespace

}  // namespace nahanni
