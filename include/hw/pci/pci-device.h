// A conventional PCI function (header type 0): identity, 256 bytes of configuration space with
// write masks, BAR sizing and mapping as the guest programs them, a capability list, and INTx
// with the command register's INTx-disable and the status register's interrupt bit.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "hw/core/device.h"
#include "hw/pci/pci-regs.h"
#include "system/memory.h"

namespace nahanni {

class PciBus;

struct PciIdentity {
  uint16_t vendor = 0;
  uint16_t device = 0;
  uint8_t revision = 0;
  uint32_t class_code = 0;  // class << 8 | subclass, e.g. 0x0500; prog-if in class_prog
  uint8_t class_prog = 0;
  uint16_t subsystem_vendor = pci::kVendorRedHatQumranet;
  uint16_t subsystem = pci::kSubsystemQemu;
  uint8_t interrupt_pin = 0;  // 0 none, 1 INTA ... 4 INTD
};

class PciDevice : public Device {
 public:
  static constexpr uint64_t kBarUnmapped = ~uint64_t{0};

  PciDevice();
  ~PciDevice() override;

  // devfn as requested by "addr" (-1: first free slot), and as assigned by the bus.
  int requested_devfn() const { return addr_; }
  int devfn() const { return devfn_; }
  void set_devfn(int devfn) { devfn_ = devfn; }
  bool multifunction() const { return multifunction_; }
  PciBus* pci_bus() const;

  // Configuration space access (offset 0..255, length 1, 2 or 4).
  uint32_t config_read(uint32_t offset, unsigned len);
  void config_write(uint32_t offset, uint32_t value, unsigned len);
  uint16_t command() const { return get16(pci::kCommand); }
  uint8_t config_byte(uint32_t offset) const { return config_[offset]; }

  // Where the guest placed BAR n, or kBarUnmapped.
  uint64_t bar_address(int n) const { return bars_[n].mapped_at; }
  uint64_t bar_size(int n) const { return bars_[n].region ? bars_[n].region->size() : 0; }
  uint32_t bar_type(int n) const { return bars_[n].type; }
  bool bar_registered(int n) const { return bars_[n].region != nullptr; }

  // INTx: level of this function's pin (honours INTx disable; sets the status interrupt bit).
  void set_intx(int level);
  int intx_level() const { return intx_level_; }

  void reset() override;
  const PciIdentity& identity() const { return identity_; }
  // Called when the guest remaps a BAR (the KVM accelerator rebinds ioeventfds on BAR0 moves).
  virtual void bar_mapping_changed(int n) { (void)n; }

 protected:
  // Subclasses set identity before realize completes, then register BARs and capabilities.
  void set_identity(const PciIdentity& id);
  // `type` is kBarSpaceIo or a combination of kBarMemType64/kBarMemPrefetch. Size must be a power of 2.
  void register_bar(int n, uint32_t type, MemoryRegion* region);
  // Returns the capability's offset in configuration space.
  uint8_t add_capability(uint8_t id, uint8_t size);
  // Hook after the default handling of a configuration write.
  virtual void config_written(uint32_t offset, uint32_t value, unsigned len) {
    (void)offset;
    (void)value;
    (void)len;
  }
  // Realize of the PCI layer: subclasses call this first from do_realize.
  Status pci_realize();
  void pci_unrealize();

  uint16_t get16(uint32_t off) const { return static_cast<uint16_t>(config_[off] | (config_[off + 1] << 8)); }
  uint32_t get32(uint32_t off) const { return get16(off) | (static_cast<uint32_t>(get16(off + 2)) << 16); }
  void set16(uint32_t off, uint16_t v) {
    config_[off] = static_cast<uint8_t>(v);
    config_[off + 1] = static_cast<uint8_t>(v >> 8);
  }
  void set32(uint32_t off, uint32_t v) {
    set16(off, static_cast<uint16_t>(v));
    set16(off + 2, static_cast<uint16_t>(v >> 16));
  }
  std::array<uint8_t, pci::kConfigSize> wmask_{};   // bits the guest may write
  std::array<uint8_t, pci::kConfigSize> w1cmask_{};  // bits the guest clears by writing 1

 private:
  struct Bar {
    MemoryRegion* region = nullptr;
    uint32_t type = 0;
    uint64_t mapped_at = kBarUnmapped;
  };
  uint64_t decode_bar(int n) const;
  void update_mappings();
  void update_intx();

  std::array<uint8_t, pci::kConfigSize> config_{};
  std::array<Bar, pci::kNumBars> bars_{};
  PciIdentity identity_;
  uint8_t next_cap_ = 0x40;
  int32_t addr_ = -1;
  bool multifunction_ = false;
  std::string romfile_;
  uint32_t rombar_ = 1;
  int devfn_ = -1;
  int intx_level_ = 0;
  int intx_asserted_ = 0;  // what the bus last saw

  friend std::vector<PropertyInfo> pci_device_properties();
  friend class Msix;
};

inline constexpr std::string_view kPciDeviceType = "pci-device";

}  // namespace nahanni
