// A conventional PCI function on a root bus: configuration space (sub-dword access, write masks,
// W1C bits), BAR sizing and mapping, capabilities, INTx, devfn assignment, reset; and MSI-X
// (capability layout, masking, pending bits, delivery).
#include <gtest/gtest.h>

#include "hw/core/machine.h"
#include "hw/core/qdev-monitor.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci-bus.h"
#include "hw/pci/pci-device.h"
#include "qom/property.h"
#include "qom/type.h"
#include "util/keyval.h"

namespace nahanni {
namespace {

using namespace pci;

// BAR0: 256-byte 32-bit MMIO, BAR1: 32-byte I/O, BAR2: 1 MiB 64-bit prefetchable RAM,
// BAR4: MSI-X with 4 vectors. A vendor capability, then MSI-X; INTA.
class TestPciDevice : public PciDevice {
 public:
  static constexpr uint16_t kVendor = 0x1234, kDevice = 0x5678;
  std::vector<uint8_t> ram = std::vector<uint8_t>(1 << 20);
  uint32_t mmio_last_write = 0;
  uint8_t vendor_cap = 0;
  std::vector<int> remapped;
  Msix* msix() { return msix_.get(); }
  void bar_mapping_changed(int n) override { remapped.push_back(n); }
  // What the device model itself would do on an error (a master abort, a parity error).
  void raise_status(uint16_t bits) { set16(kStatus, get16(kStatus) | bits); }

 protected:
  Status do_realize() override {
    NN_TRY(pci_realize());
    set_identity({.vendor = kVendor, .device = kDevice, .revision = 1, .class_code = 0xff00, .interrupt_pin = 1});
    mmio_ = MemoryRegion::io("test-mmio", 256,
                             MemoryRegionOps{.read = [](uint64_t off, unsigned) -> uint64_t { return 0xa0000000 | off; },
                                             .write = [this](uint64_t, uint64_t v, unsigned) {
                                               mmio_last_write = static_cast<uint32_t>(v);
                                             },
                                             .min_access = 4,
                                             .max_access = 4});
    io_ = MemoryRegion::io("test-io", 32,
                           MemoryRegionOps{.read = [](uint64_t off, unsigned) -> uint64_t { return 0x50 + off; }});
    ram_region_ = MemoryRegion::ram("test-ram", ram.size(), ram.data());
    register_bar(0, 0, mmio_.get());
    register_bar(1, kBarSpaceIo, io_.get());
    register_bar(2, kBarMemType64 | kBarMemPrefetch, ram_region_.get());
    vendor_cap = add_capability(kCapIdVendor, 8);
    msix_ = std::make_unique<Msix>(*this, 4, 4);
    register_bar(4, 0, msix_->bar_region());
    return {};
  }
  void do_unrealize() override {
    pci_unrealize();
    msix_.reset();
  }
  void config_written(uint32_t offset, uint32_t, unsigned len) override {
    if (msix_) msix_->config_written(offset, len);
  }

 public:
  void reset() override {
    PciDevice::reset();
    if (msix_) msix_->reset();
  }

 private:
  std::unique_ptr<MemoryRegion> mmio_, io_, ram_region_;
  std::unique_ptr<Msix> msix_;
};

// No BARs, no interrupt pin: for slot assignment.
class TestPciFunction : public PciDevice {
 protected:
  Status do_realize() override {
    NN_TRY(pci_realize());
    set_identity({.vendor = 0x1234, .device = 0x0001});
    return {};
  }
  void do_unrealize() override { pci_unrealize(); }
};

const TypeRegistration kTestPci{TypeInfo{.name = "test-pci",
                                         .parent = std::string(kPciDeviceType),
                                         .factory = make_factory<TestPciDevice>(),
                                         .category = "Misc devices",
                                         .bus_type = "PCI"}};
const TypeRegistration kTestPciFn{TypeInfo{.name = "test-pci-fn",
                                           .parent = std::string(kPciDeviceType),
                                           .factory = make_factory<TestPciFunction>(),
                                           .category = "Misc devices",
                                           .bus_type = "PCI"}};

class TestPciMachine : public Machine {
 public:
  TestPciMachine()
      : mem_root(MemoryRegion::container("pci-mem", UINT64_MAX)),
        io_root(MemoryRegion::container("pci-io", 0x10000)),
        mem("mem", mem_root.get(), 0),
        io("io", io_root.get(), 0xff),
        bus("pci.0", mem_root.get(), io_root.get()) {
    bus.set_intx_router([this](int devfn, int pin, int level) { intx.push_back({devfn, pin, level}); });
  }
  Status init(const MachineConfig&) override { return {}; }
  std::vector<Bus*> buses() override { return {&bus}; }
  AddressSpace* memory() override { return &mem; }
  AddressSpace* io_space() { return &io; }

  std::unique_ptr<MemoryRegion> mem_root, io_root;
  AddressSpace mem, io;
  PciBus bus;
  struct Intx {
    int devfn, pin, level;
    bool operator==(const Intx&) const = default;
  };
  std::vector<Intx> intx;
};

class PciTest : public ::testing::Test {
 protected:
  void SetUp() override { set_current_machine(&machine_); }
  void TearDown() override {
    for (Device* d : machine_.bus.devices()) {
      d->unrealize();
      machine_.bus.unplug(*d);
    }
    (void)object_root().remove_child("machine");
    set_current_machine(nullptr);
  }
  Result<Device*> add(std::string_view arg) {
    auto opts = parse_option_argument(arg, "driver");
    if (!opts) return opts.error();
    return device_add(std::move(*opts), OptionSource::CommandLine, false);
  }
  std::string add_error(std::string_view arg) {
    auto r = add(arg);
    return r ? std::string("(ok)") : r.error().message();
  }
  TestPciDevice& add_test_device(std::string_view arg = "test-pci,addr=3") {
    auto r = add(arg);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return *static_cast<TestPciDevice*>(*r);
  }
  TestPciMachine machine_;
};

TEST_F(PciTest, identity_reads_back_from_configuration_space) {
  TestPciDevice& d = add_test_device();
  EXPECT_EQ(d.devfn(), 3 << 3);
  EXPECT_EQ(d.config_read(kVendorId, 4), 0x56781234u);
  EXPECT_EQ(d.config_read(kRevision, 4), 0xff000001u);  // class ff00, prog-if 0, revision 1
  EXPECT_EQ(d.config_read(kHeaderType, 1), 0u);
  EXPECT_EQ(d.config_read(kSubsystemVendorId, 4), 0x11001af4u);
  EXPECT_EQ(d.config_read(kInterruptPin, 1), 1u);
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList);
  EXPECT_EQ(d.config_read(kCommand, 2), 0u);
  // The bus reads the same thing by devfn; absent functions read all ones.
  EXPECT_EQ(machine_.bus.config_read(3 << 3, 0, 4), 0x56781234u);
  EXPECT_EQ(machine_.bus.config_read(3 << 3 | 1, 0, 4), 0xffffffffu);
  EXPECT_EQ(machine_.bus.config_read(5 << 3, 0, 2), 0xffffu);
  EXPECT_EQ(machine_.bus.config_read(5 << 3, 0, 1), 0xffu);
  EXPECT_EQ(machine_.bus.device_at(3 << 3), &d);
}

TEST_F(PciTest, sub_dword_reads_at_any_offset) {
  TestPciDevice& d = add_test_device();
  EXPECT_EQ(d.config_read(0, 1), 0x34u);
  EXPECT_EQ(d.config_read(1, 1), 0x12u);
  EXPECT_EQ(d.config_read(1, 2), 0x7812u);
  EXPECT_EQ(d.config_read(2, 2), 0x5678u);
  EXPECT_EQ(d.config_read(3, 1), 0x56u);
  // Beyond the 256 bytes: all ones, no crash.
  EXPECT_EQ(d.config_read(0xfe, 4), 0xffffffffu);
  EXPECT_EQ(d.config_read(0x100, 1), 0xffffffffu);
}

TEST_F(PciTest, identity_registers_are_read_only) {
  TestPciDevice& d = add_test_device();
  for (uint32_t off : {0x00u, 0x08u, 0x2cu, 0x34u}) d.config_write(off, 0xffffffff, 4);
  d.config_write(kInterruptPin, 0xff, 1);
  d.config_write(kHeaderType, 0xff, 1);
  EXPECT_EQ(d.config_read(kVendorId, 4), 0x56781234u);
  EXPECT_EQ(d.config_read(kRevision, 4), 0xff000001u);
  EXPECT_EQ(d.config_read(kSubsystemVendorId, 4), 0x11001af4u);
  EXPECT_EQ(d.config_read(kInterruptPin, 1), 1u);
  EXPECT_EQ(d.config_read(kHeaderType, 1), 0u);
  d.config_write(0xfe, 0xffffffff, 4);  // out of range: ignored
}

TEST_F(PciTest, command_bits_io_memory_master_and_intx_disable_stick) {
  TestPciDevice& d = add_test_device();
  d.config_write(kCommand, kCommandIo | kCommandMemory | kCommandMaster, 2);
  EXPECT_EQ(d.config_read(kCommand, 2), 0x7u);
  d.config_write(kCommand, 0xffff, 2);
  EXPECT_EQ(d.config_read(kCommand, 2), 0x0547u);  // + parity, SERR, INTx disable; nothing else
  d.config_write(kCommand + 1, 0x00, 1);            // byte write to the high half
  EXPECT_EQ(d.config_read(kCommand, 2), 0x0047u);
  d.config_write(kCommand, 0, 2);
  EXPECT_EQ(d.command(), 0u);
}

TEST_F(PciTest, writable_header_bytes) {
  TestPciDevice& d = add_test_device();
  d.config_write(kCacheLineSize, 0x10, 1);
  d.config_write(kLatencyTimer, 0x40, 1);
  d.config_write(kInterruptLine, 0x0b, 1);
  EXPECT_EQ(d.config_read(kCacheLineSize, 2), 0x4010u);
  EXPECT_EQ(d.config_read(kInterruptLine, 2), 0x010bu);
}

TEST_F(PciTest, status_error_bits_are_write_one_to_clear_and_others_read_only) {
  TestPciDevice& d = add_test_device();
  // Nothing the guest writes can set a status bit.
  d.config_write(kStatus, 0xffff, 2);
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList);
  d.set_intx(1);
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList | kStatusInterrupt);
  d.config_write(kStatus, kStatusInterrupt, 2);  // the interrupt bit is not W1C
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList | kStatusInterrupt);
  d.set_intx(0);
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList);
}

TEST_F(PciTest, status_error_bits_clear_only_where_one_is_written) {
  TestPciDevice& d = add_test_device();
  d.raise_status(0xf900);  // parity, signalled/received target abort, master abort, SERR, detected parity
  EXPECT_EQ(d.config_read(kStatus, 2), 0xf900u | kStatusCapList);
  d.config_write(kStatus, 0x2000, 2);  // received master abort only
  EXPECT_EQ(d.config_read(kStatus, 2), 0xd900u | kStatusCapList);
  d.config_write(kStatus + 1, 0x81, 1);  // byte write: detected parity and master data parity
  EXPECT_EQ(d.config_read(kStatus, 2), 0x5800u | kStatusCapList);
  d.config_write(kStatus, 0, 2);  // writing 0 changes nothing
  EXPECT_EQ(d.config_read(kStatus, 2), 0x5800u | kStatusCapList);
  d.config_write(kStatus, 0xffff, 2);
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList);
}

TEST_F(PciTest, bar_sizing_round_trips) {
  TestPciDevice& d = add_test_device();
  EXPECT_EQ(d.config_read(kBar0, 4), 0u);
  EXPECT_EQ(d.config_read(kBar0 + 4, 4), kBarSpaceIo);
  EXPECT_EQ(d.config_read(kBar0 + 8, 4), kBarMemType64 | kBarMemPrefetch);
  EXPECT_EQ(d.config_read(kBar0 + 12, 4), 0u);
  for (int n = 0; n < 6; ++n) d.config_write(kBar0 + 4 * n, 0xffffffff, 4);
  EXPECT_EQ(d.config_read(kBar0, 4), 0xffffff00u);                                     // 256 B memory
  EXPECT_EQ(d.config_read(kBar0 + 4, 4), 0xffffffe1u);                                 // 32 B I/O
  EXPECT_EQ(d.config_read(kBar0 + 8, 4), 0xfff00000u | kBarMemType64 | kBarMemPrefetch);  // 1 MiB
  EXPECT_EQ(d.config_read(kBar0 + 12, 4), 0xffffffffu);                                // upper dword
  EXPECT_EQ(d.config_read(kBar0 + 16, 4), 0xfffff000u);                                // MSI-X, 4 KiB
  EXPECT_EQ(d.config_read(kBar0 + 20, 4), 0u);                                         // unimplemented
  EXPECT_EQ(d.config_read(kRomAddress, 4), 0u);
  d.config_write(kRomAddress, 0xfffff800, 4);
  EXPECT_EQ(d.config_read(kRomAddress, 4), 0u);  // no option ROM
  EXPECT_EQ(d.bar_size(0), 256u);
  EXPECT_EQ(d.bar_size(2), 1u << 20);
  EXPECT_EQ(d.bar_size(3), 0u);
  EXPECT_TRUE(d.bar_registered(4));
  EXPECT_FALSE(d.bar_registered(5));
}

TEST_F(PciTest, bar_with_sizing_pattern_is_not_mapped) {
  TestPciDevice& d = add_test_device();
  d.config_write(kCommand, kCommandIo | kCommandMemory, 2);
  for (int n = 0; n < 6; ++n) d.config_write(kBar0 + 4 * n, 0xffffffff, 4);
  for (int n = 0; n < 6; ++n) EXPECT_EQ(d.bar_address(n), PciDevice::kBarUnmapped) << n;
  EXPECT_TRUE(machine_.mem.flat_view().empty());
}

TEST_F(PciTest, memory_bar_maps_when_memory_decoding_is_on) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0, 0xe0000000, 4);
  EXPECT_EQ(d.bar_address(0), PciDevice::kBarUnmapped);  // decoding off
  EXPECT_EQ(machine_.mem.read_value(0xe0000000, 4), 0u);
  d.config_write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(d.bar_address(0), 0xe0000000u);
  EXPECT_EQ(machine_.mem.read_value(0xe0000010, 4), 0xa0000010u);
  machine_.mem.write_value(0xe0000004, 0xfeedface, 4);
  EXPECT_EQ(d.mmio_last_write, 0xfeedfaceu);
  // Moving it remaps; the old place goes quiet.
  d.config_write(kBar0, 0xe0100000, 4);
  EXPECT_EQ(d.bar_address(0), 0xe0100000u);
  EXPECT_EQ(machine_.mem.read_value(0xe0000010, 4), 0u);
  EXPECT_EQ(machine_.mem.read_value(0xe0100010, 4), 0xa0000010u);
  // Decoding off unmaps it.
  d.config_write(kCommand, 0, 2);
  EXPECT_EQ(d.bar_address(0), PciDevice::kBarUnmapped);
  EXPECT_EQ(machine_.mem.read_value(0xe0100010, 4), 0u);
  EXPECT_EQ(d.remapped, (std::vector<int>{0, 0, 0}));
}

TEST_F(PciTest, bar_address_low_bits_are_masked_by_the_size) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0, 0xe00000ff, 4);
  EXPECT_EQ(d.config_read(kBar0, 4), 0xe0000000u);
}

TEST_F(PciTest, io_bar_maps_when_io_decoding_is_on) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0 + 4, 0xc001, 4);
  EXPECT_EQ(d.config_read(kBar0 + 4, 4), 0xc001u);
  d.config_write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(d.bar_address(1), PciDevice::kBarUnmapped);
  d.config_write(kCommand, kCommandIo, 2);
  EXPECT_EQ(d.bar_address(1), 0xc000u);
  EXPECT_EQ(machine_.io.read_value(0xc004, 1), 0x54u);
  d.config_write(kCommand, 0, 2);
  EXPECT_EQ(machine_.io.read_value(0xc004, 1), 0xffu);
}

TEST_F(PciTest, io_bar_beyond_64k_is_not_mapped) {
  TestPciDevice& d = add_test_device();
  d.config_write(kCommand, kCommandIo, 2);
  d.config_write(kBar0 + 4, 0x10000, 4);
  EXPECT_EQ(d.bar_address(1), PciDevice::kBarUnmapped);
  d.config_write(kBar0 + 4, 0xffe0, 4);
  EXPECT_EQ(d.bar_address(1), 0xffe0u);
}

TEST_F(PciTest, bar64_with_only_the_low_dword_written_lands_below_4g) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0 + 8, 0xe0100000, 4);  // libqos never writes the upper dword
  d.config_write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(d.bar_address(2), 0xe0100000u);
  d.ram[0x123] = 0x77;
  EXPECT_EQ(machine_.mem.read_value(0xe0100123, 1), 0x77u);
  machine_.mem.write_value(0xe01fffff, 0x66, 1);
  EXPECT_EQ(d.ram[0xfffff], 0x66);
}

TEST_F(PciTest, bar64_above_4g_uses_both_dwords) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0 + 8, 0x00100000, 4);
  d.config_write(kBar0 + 12, 0x2, 4);
  d.config_write(kCommand, kCommandMemory, 2);
  EXPECT_EQ(d.bar_address(2), 0x200100000u);
  EXPECT_EQ(d.config_read(kBar0 + 12, 4), 2u);
  d.ram[0] = 0x99;
  EXPECT_EQ(machine_.mem.read_value(0x200100000, 1), 0x99u);
  // Sizing the upper dword alone (low dword still an address) keeps it off the bus.
  d.config_write(kBar0 + 12, 0xffffffff, 4);
  EXPECT_EQ(d.config_read(kBar0 + 12, 4), 0xffffffffu);
  EXPECT_EQ(d.bar_address(2), 0xffffffff00100000u);
  d.config_write(kBar0 + 8, 0xffffffff, 4);
  EXPECT_EQ(d.bar_address(2), PciDevice::kBarUnmapped);
}

TEST_F(PciTest, bar32_reaching_4g_is_not_mapped) {
  TestPciDevice& d = add_test_device();
  d.config_write(kCommand, kCommandMemory, 2);
  d.config_write(kBar0, 0xffffff00, 4);
  EXPECT_EQ(d.bar_address(0), PciDevice::kBarUnmapped);
  d.config_write(kBar0, 0xfffffe00, 4);
  EXPECT_EQ(d.bar_address(0), 0xfffffe00u);
}

TEST_F(PciTest, capability_list_is_walkable) {
  TestPciDevice& d = add_test_device();
  uint8_t ptr = static_cast<uint8_t>(d.config_read(kCapabilityList, 1));
  std::vector<std::pair<uint8_t, uint8_t>> caps;
  while (ptr && caps.size() < 10) {
    caps.emplace_back(ptr, static_cast<uint8_t>(d.config_read(ptr, 1)));
    ptr = static_cast<uint8_t>(d.config_read(ptr + 1, 1));
  }
  EXPECT_EQ(caps, (std::vector<std::pair<uint8_t, uint8_t>>{{0x48, kCapIdMsix}, {0x40, kCapIdVendor}}));
  EXPECT_EQ(d.vendor_cap, 0x40);
  EXPECT_EQ(d.msix()->cap_offset(), 0x48);
}

TEST_F(PciTest, intx_follows_the_level_and_intx_disable) {
  TestPciDevice& d = add_test_device();
  int devfn = d.devfn();
  d.set_intx(1);
  EXPECT_EQ(d.intx_level(), 1);
  d.set_intx(1);  // no level change, no new event
  d.config_write(kCommand, kCommandIntxDisable, 2);
  EXPECT_EQ(d.config_read(kStatus, 2) & kStatusInterrupt, kStatusInterrupt);  // status still shows it
  d.config_write(kCommand, 0, 2);
  d.set_intx(0);
  using I = TestPciMachine::Intx;
  EXPECT_EQ(machine_.intx, (std::vector<I>{{devfn, 0, 1}, {devfn, 0, 0}, {devfn, 0, 1}, {devfn, 0, 0}}));
}

TEST_F(PciTest, intx_raised_while_disabled_is_delivered_when_enabled) {
  TestPciDevice& d = add_test_device();
  d.config_write(kCommand, kCommandIntxDisable, 2);
  d.set_intx(1);
  EXPECT_TRUE(machine_.intx.empty());
  d.config_write(kCommand, 0, 2);
  ASSERT_EQ(machine_.intx.size(), 1u);
  EXPECT_EQ(machine_.intx[0].level, 1);
}

TEST_F(PciTest, function_without_a_pin_never_drives_intx) {
  auto r = add("test-pci-fn,addr=4");
  ASSERT_TRUE(r.ok());
  auto* f = static_cast<PciDevice*>(*r);
  f->set_intx(1);
  EXPECT_TRUE(machine_.intx.empty());
  EXPECT_EQ(f->config_read(kInterruptPin, 1), 0u);
}

TEST_F(PciTest, reset_clears_command_bars_status_and_intx) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0, 0xe0000000, 4);
  d.config_write(kBar0 + 8, 0xe0100000, 4);
  d.config_write(kBar0 + 4, 0xc001, 4);
  d.config_write(kCacheLineSize, 0x10, 1);
  d.config_write(kInterruptLine, 0x0b, 1);
  d.config_write(kCommand, 0x7, 2);
  d.set_intx(1);
  ASSERT_EQ(d.bar_address(0), 0xe0000000u);
  d.reset();
  EXPECT_EQ(d.config_read(kCommand, 2), 0u);
  EXPECT_EQ(d.config_read(kStatus, 2), kStatusCapList);
  EXPECT_EQ(d.config_read(kBar0, 4), 0u);
  EXPECT_EQ(d.config_read(kBar0 + 4, 4), kBarSpaceIo);
  EXPECT_EQ(d.config_read(kBar0 + 8, 4), kBarMemType64 | kBarMemPrefetch);
  EXPECT_EQ(d.config_read(kCacheLineSize, 1), 0u);
  EXPECT_EQ(d.config_read(kInterruptLine, 1), 0u);
  EXPECT_EQ(d.intx_level(), 0);
  for (int n = 0; n < 6; ++n) EXPECT_EQ(d.bar_address(n), PciDevice::kBarUnmapped);
  EXPECT_TRUE(machine_.mem.flat_view().empty());
  EXPECT_EQ(machine_.intx.back().level, 0);
  EXPECT_EQ(d.config_read(kVendorId, 4), 0x56781234u);
}

TEST_F(PciTest, unrealize_unmaps_the_bars) {
  TestPciDevice& d = add_test_device();
  d.config_write(kBar0, 0xe0000000, 4);
  d.config_write(kCommand, kCommandMemory, 2);
  ASSERT_FALSE(machine_.mem.flat_view().empty());
  d.unrealize();
  EXPECT_TRUE(machine_.mem.flat_view().empty());
}

TEST_F(PciTest, addr_picks_slot_and_function) {
  auto a = add("test-pci-fn,addr=6");
  auto b = add("test-pci-fn,addr=0x7");
  auto c = add("test-pci-fn,addr=4.0");
  auto e = add("test-pci-fn,addr=1f");
  ASSERT_TRUE(a.ok() && b.ok() && c.ok() && e.ok());
  EXPECT_EQ(static_cast<PciDevice*>(*a)->devfn(), 6 << 3);
  EXPECT_EQ(static_cast<PciDevice*>(*b)->devfn(), 7 << 3);
  EXPECT_EQ(static_cast<PciDevice*>(*c)->devfn(), 4 << 3);
  EXPECT_EQ(static_cast<PciDevice*>(*e)->devfn(), 31 << 3);
  EXPECT_EQ(*(*a)->get_property("addr"), 48);
}

TEST_F(PciTest, addr_out_of_range_or_malformed) {
  EXPECT_EQ(add_error("test-pci-fn,addr=0x20"), "Property 'test-pci-fn.addr' doesn't take value '0x20'");
  EXPECT_EQ(add_error("test-pci-fn,addr=5.8"), "Property 'test-pci-fn.addr' doesn't take value '5.8'");
  EXPECT_EQ(add_error("test-pci-fn,addr=-1"), "Property 'test-pci-fn.addr' doesn't take value '-1'");
  EXPECT_EQ(add_error("test-pci-fn,addr=x"), "Property 'test-pci-fn.addr' doesn't take value 'x'");
  EXPECT_EQ(add_error("test-pci-fn,addr=4."), "Property 'test-pci-fn.addr' doesn't take value '4.'");
}

TEST_F(PciTest, addr_in_json_is_a_devfn_number) {
  auto r = add(R"({"driver":"test-pci-fn","addr":32})");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(static_cast<PciDevice*>(*r)->devfn(), 32);
  EXPECT_EQ(add_error(R"({"driver":"test-pci-fn","addr":256})"), "Property 'test-pci-fn.addr' doesn't take value '256'");
}

TEST_F(PciTest, no_addr_takes_the_first_free_slot) {
  ASSERT_TRUE(add("test-pci-fn,addr=0").ok());
  ASSERT_TRUE(add("test-pci-fn,addr=2").ok());
  auto r1 = add("test-pci-fn");
  auto r2 = add("test-pci-fn");
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ(static_cast<PciDevice*>(*r1)->devfn(), 1 << 3);
  EXPECT_EQ(static_cast<PciDevice*>(*r2)->devfn(), 3 << 3);
}

TEST_F(PciTest, a_taken_slot_names_its_occupant) {
  ASSERT_TRUE(add("test-pci-fn,addr=3").ok());
  EXPECT_EQ(add_error("test-pci-fn,addr=3"),
            "PCI: slot 3 function 0 not available for test-pci-fn, in use by test-pci-fn,id=(null)");
  ASSERT_TRUE(add("test-pci,id=t,addr=0x15").ok());
  // QEMU prints this slot in decimal.
  EXPECT_EQ(add_error("test-pci-fn,addr=0x15"),
            "PCI: slot 21 function 0 not available for test-pci-fn, in use by test-pci,id=t");
}

TEST_F(PciTest, bus_full) {
  for (int i = 0; i < 32; ++i) ASSERT_TRUE(add("test-pci-fn").ok()) << i;
  EXPECT_EQ(add_error("test-pci-fn"), "PCI: no slot/function available for test-pci-fn, all in use");
}

TEST_F(PciTest, function_above_0_needs_a_multifunction_function_0) {
  ASSERT_TRUE(add("test-pci-fn,addr=0x15").ok());
  // QEMU prints slot and function in hex here.
  EXPECT_EQ(add_error("test-pci-fn,addr=0x15.2"), "PCI: single function device can't be populated in function 15.2");
  ASSERT_TRUE(add("test-pci-fn,addr=6.0,multifunction=on").ok());
  auto r = add("test-pci-fn,addr=6.3");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(static_cast<PciDevice*>(*r)->devfn(), 6 << 3 | 3);
  EXPECT_EQ(machine_.bus.config_read(6 << 3, kHeaderType, 1), kHeaderTypeMultiFunction);
}

TEST_F(PciTest, function_0_without_multifunction_cannot_join_populated_functions) {
  ASSERT_TRUE(add("test-pci-fn,addr=5.1").ok());  // function 0 absent: allowed
  EXPECT_EQ(add_error("test-pci-fn,addr=5.0"), "PCI: 5.0 indicates single function, but 5.1 is already populated.");
  EXPECT_TRUE(add("test-pci-fn,addr=5.0,multifunction=on").ok());
}

TEST_F(PciTest, removing_a_device_frees_its_slot) {
  auto r = add("test-pci-fn,addr=3");
  ASSERT_TRUE(r.ok());
  device_remove(**r);
  EXPECT_EQ(machine_.bus.device_at(3 << 3), nullptr);
  EXPECT_TRUE(add("test-pci-fn,addr=3").ok());
}

TEST_F(PciTest, romfile_other_than_empty_is_refused) {
  EXPECT_TRUE(add("test-pci-fn,addr=3,romfile=").ok());
  EXPECT_EQ(add_error("test-pci-fn,addr=4,romfile=x.rom"),
            "romfile 'x.rom' is not supported: nahanni has no option ROMs");
}

// MSI-X.

class MsixTest : public PciTest {
 protected:
  void SetUp() override {
    PciTest::SetUp();
    dev_ = &add_test_device();
    msix_ = dev_->msix();
    cap_ = msix_->cap_offset();
    msix_->set_delivery([this](uint64_t address, uint32_t data) { delivered_.push_back({address, data}); });
    // Map the MSI-X BAR at 0xfe000000 for table and PBA access.
    dev_->config_write(kBar0 + 16, kTable, 4);
    dev_->config_write(kCommand, kCommandMemory | kCommandMaster, 2);
  }
  void enable(bool on = true) {
    uint16_t control = static_cast<uint16_t>(dev_->config_read(cap_ + 2, 2));
    dev_->config_write(cap_ + 2, on ? control | 0x8000 : control & ~0x8000, 2);
  }
  void program(unsigned v, uint64_t address, uint32_t data) {
    auto& mem = machine_.mem;
    mem.write_value(kTable + 16 * v, address & 0xffffffff, 4);
    mem.write_value(kTable + 16 * v + 4, address >> 32, 4);
    mem.write_value(kTable + 16 * v + 8, data, 4);
  }
  void set_mask(unsigned v, bool masked) { machine_.mem.write_value(kTable + 16 * v + 12, masked ? 1 : 0, 4); }
  uint32_t pba() { return static_cast<uint32_t>(machine_.mem.read_value(kTable + 0x800, 4)); }

  static constexpr uint64_t kTable = 0xfe000000;
  TestPciDevice* dev_ = nullptr;
  Msix* msix_ = nullptr;
  uint8_t cap_ = 0;
  std::vector<std::pair<uint64_t, uint32_t>> delivered_;
};

TEST_F(MsixTest, capability_layout) {
  EXPECT_EQ(dev_->config_read(cap_, 4), 0x00034011u);  // ID 0x11, next 0x40, 4 vectors
  EXPECT_EQ(dev_->config_read(cap_ + 4, 4), 4u);       // table at offset 0 of BAR4
  EXPECT_EQ(dev_->config_read(cap_ + 8, 4), 0x804u);   // PBA at 0x800 of BAR4
  EXPECT_EQ(msix_->vectors(), 4u);
  EXPECT_EQ(dev_->bar_size(4), 4096u);
}

TEST_F(MsixTest, only_enable_and_function_mask_are_writable) {
  dev_->config_write(cap_ + 2, 0xffff, 2);
  EXPECT_EQ(dev_->config_read(cap_ + 2, 2), 0xc003u);
  dev_->config_write(cap_ + 4, 0xffffffff, 4);
  dev_->config_write(cap_ + 8, 0xffffffff, 4);
  EXPECT_EQ(dev_->config_read(cap_ + 4, 4), 4u);
  EXPECT_EQ(dev_->config_read(cap_ + 8, 4), 0x804u);
  EXPECT_TRUE(msix_->enabled());
  EXPECT_TRUE(msix_->function_masked());
}

TEST_F(MsixTest, all_vectors_start_masked_with_nothing_pending) {
  for (unsigned v = 0; v < 4; ++v) {
    EXPECT_EQ(machine_.mem.read_value(kTable + 16 * v + 12, 4), 1u) << v;
    EXPECT_EQ(machine_.mem.read_value(kTable + 16 * v, 4), 0u) << v;
    EXPECT_FALSE(msix_->pending(v));
  }
  EXPECT_EQ(pba(), 0u);
  EXPECT_FALSE(msix_->enabled());
}

TEST_F(MsixTest, table_reads_back_what_was_written) {
  program(2, 0x00000001fee01000ull, 0x4041);
  EXPECT_EQ(machine_.mem.read_value(kTable + 32, 8), 0x00000001fee01000ull);
  EXPECT_EQ(machine_.mem.read_value(kTable + 40, 4), 0x4041u);
  EXPECT_EQ(machine_.mem.read_value(kTable + 41, 1), 0x40u);
  EXPECT_EQ(msix_->address(2), 0x00000001fee01000ull);
  EXPECT_EQ(msix_->data(2), 0x4041u);
}

TEST_F(MsixTest, notify_on_a_masked_vector_sets_its_pending_bit) {
  enable();
  program(1, 0xfee00000, 0x31);
  msix_->notify(1);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_TRUE(msix_->pending(1));
  EXPECT_EQ(pba(), 0x2u);
  // The PBA is read-only to the guest.
  machine_.mem.write_value(kTable + 0x800, 0, 4);
  EXPECT_EQ(pba(), 0x2u);
}

TEST_F(MsixTest, unmasking_delivers_and_clears_pending) {
  enable();
  program(1, 0xfee00000, 0x31);
  msix_->notify(1);
  set_mask(1, false);
  EXPECT_EQ(delivered_, (std::vector<std::pair<uint64_t, uint32_t>>{{0xfee00000, 0x31}}));
  EXPECT_FALSE(msix_->pending(1));
  EXPECT_EQ(pba(), 0u);
}

TEST_F(MsixTest, unmasked_vector_delivers_at_once) {
  enable();
  program(3, 0xfee0f00c, 0x99);
  set_mask(3, false);
  msix_->notify(3);
  msix_->notify(3);
  EXPECT_EQ(delivered_.size(), 2u);
  EXPECT_EQ(delivered_[0], (std::pair<uint64_t, uint32_t>{0xfee0f00c, 0x99}));
  EXPECT_FALSE(msix_->pending(3));
}

TEST_F(MsixTest, disabled_msix_leaves_the_vector_pending_until_enabled) {
  program(0, 0xfee00000, 0x20);
  set_mask(0, false);
  msix_->notify(0);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_TRUE(msix_->pending(0));
  enable();
  EXPECT_EQ(delivered_.size(), 1u);
  EXPECT_FALSE(msix_->pending(0));
}

TEST_F(MsixTest, function_mask_holds_every_vector) {
  enable();
  program(0, 0xfee00000, 0x20);
  set_mask(0, false);
  dev_->config_write(cap_ + 3, 0xc0, 1);  // enable + function mask, byte write
  EXPECT_TRUE(msix_->function_masked());
  EXPECT_TRUE(msix_->vector_masked(0));
  msix_->notify(0);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_TRUE(msix_->pending(0));
  dev_->config_write(cap_ + 3, 0x80, 1);
  EXPECT_EQ(delivered_.size(), 1u);
  EXPECT_FALSE(msix_->pending(0));
}

TEST_F(MsixTest, out_of_range_vector_is_ignored) {
  enable();
  msix_->notify(4);
  msix_->notify(1000);
  EXPECT_TRUE(delivered_.empty());
  EXPECT_EQ(pba(), 0u);
  EXPECT_TRUE(msix_->vector_masked(4));
}

TEST_F(MsixTest, reset_masks_everything_and_clears_pending_and_control) {
  enable();
  program(1, 0xfee00000, 0x31);
  set_mask(1, false);
  set_mask(2, false);
  msix_->notify(0);
  dev_->reset();
  EXPECT_FALSE(msix_->enabled());
  EXPECT_EQ(dev_->config_read(cap_ + 2, 2), 3u);
  for (unsigned v = 0; v < 4; ++v) {
    EXPECT_TRUE(msix_->vector_masked(v));
    EXPECT_FALSE(msix_->pending(v));
    EXPECT_EQ(msix_->address(v), 0u);
  }
}

TEST_F(MsixTest, vector_changed_hook_hears_table_and_enable_changes) {
  std::vector<unsigned> changed;
  msix_->set_vector_changed([&](unsigned v) { changed.push_back(v); });
  machine_.mem.write_value(kTable + 16 * 2 + 8, 0x1, 4);
  EXPECT_EQ(changed, std::vector<unsigned>{2});
  changed.clear();
  enable();
  EXPECT_EQ(changed, (std::vector<unsigned>{0, 1, 2, 3}));
}

TEST_F(MsixTest, large_vector_counts_size_the_bar_and_pba) {
  auto r = add("test-pci-fn,addr=9");
  ASSERT_TRUE(r.ok());
  // 200 vectors: table 3200 bytes, PBA right after it (not at 0x800), BAR 4 KiB.
  auto* fn = static_cast<PciDevice*>(*r);
  Msix big(*fn, 200, 2);
  EXPECT_EQ(big.bar_region()->size(), 4096u);
  EXPECT_EQ(fn->config_read(big.cap_offset() + 8, 4), 3200u | 2u);
  EXPECT_EQ(fn->config_read(big.cap_offset() + 2, 2), 199u);
}

}  // namespace
}  // namespace nahanni
