// The pc machine seen from the guest's ports and memory: configuration mechanism #1, the
// chipset functions, fw_cfg, reset and power-off registers, the MSI window, ACPI PCI hotplug.
#include "hw/i386/ioapic.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci-device.h"
#include "pc-fixture.h"

namespace nahanni::test {
namespace {

// A hotpluggable PCI function with nothing behind it, to plug and eject.
class HotplugFunction : public PciDevice {
 protected:
  Status do_realize() override {
    NN_TRY(pci_realize());
    set_identity({.vendor = 0x1234, .device = 0x11ee});
    return {};
  }
  void do_unrealize() override { pci_unrealize(); }
};
const TypeRegistration kHotplugFunction{TypeInfo{.name = "test-hotplug-fn",
                                                 .parent = std::string(kPciDeviceType),
                                                 .factory = make_factory<HotplugFunction>(),
                                                 .category = "Misc devices",
                                                 .bus_type = "PCI"}};

TEST_F(PcTest, i440fx_host_bridge_at_00_0) {
  outl(0xcf8, 0x80000000);
  EXPECT_EQ(inl(0xcfc), 0x12378086u);
  EXPECT_EQ(cfg_read(0, 0x08, 4) >> 8, 0x060000u);  // host bridge class
  EXPECT_EQ(cfg_read(0, 0x0e, 1), 0u);
}

TEST_F(PcTest, piix3_at_01_0_is_multifunction_and_piix4_pm_at_01_3) {
  EXPECT_EQ(cfg_read(1 << 3, 0, 4), 0x70008086u);
  EXPECT_EQ(cfg_read(1 << 3, 0x0e, 1), 0x80u);
  EXPECT_EQ(cfg_read(1 << 3 | 3, 0, 4), 0x71138086u);
  EXPECT_EQ(cfg_read(1 << 3 | 3, 0x0a, 2), 0x0680u);
}

TEST_F(PcTest, absent_functions_read_all_ones) {
  EXPECT_EQ(cfg_read(1 << 3 | 1, 0, 4), 0xffffffffu);
  EXPECT_EQ(cfg_read(2 << 3, 0, 2), 0xffffu);
  EXPECT_EQ(cfg_read(31 << 3 | 7, 0, 1), 0xffu);
  // Only bus 0 exists.
  outl(0xcf8, 0x80010000);
  EXPECT_EQ(inl(0xcfc), 0xffffffffu);
}

TEST_F(PcTest, every_slot_scan_finds_exactly_the_chipset) {
  std::vector<int> found;
  for (int devfn = 0; devfn < 256; ++devfn)
    if (cfg_read(devfn, 0, 2) != 0xffff) found.push_back(devfn);
  EXPECT_EQ(found, (std::vector<int>{0, 8, 11}));
}

TEST_F(PcTest, sub_dword_offsets_through_cf8_low_bits) {
  EXPECT_EQ(cfg_read(0, 2, 2), 0x1237u);
  EXPECT_EQ(cfg_read(0, 1, 1), 0x80u);
  EXPECT_EQ(cfg_read(0, 3, 1), 0x12u);
}

TEST_F(PcTest, sub_dword_offsets_through_the_data_port) {
  outl(0xcf8, 0x80000000);
  EXPECT_EQ(inw(0xcfe), 0x1237u);
  EXPECT_EQ(inb(0xcfd), 0x80u);
  EXPECT_EQ(inb(0xcff), 0x12u);
}

TEST_F(PcTest, config_address_reads_back) {
  outl(0xcf8, 0x80000a04);
  EXPECT_EQ(inl(0xcf8), 0x80000a04u);
}

TEST_F(PcTest, config_address_latches_only_dword_writes) {
  outl(0xcf8, 0x80000000);
  outb(0xcf8, 0x04);         // not a configuration address write
  outw(0xcfa, 0x1234);
  EXPECT_EQ(inl(0xcf8), 0x80000000u);
  EXPECT_EQ(inl(0xcfc), 0x12378086u);
}

TEST_F(PcTest, disabled_config_address_reads_all_ones) {
  outl(0xcf8, 0x00000000);
  EXPECT_EQ(inl(0xcfc), 0xffffffffu);
  EXPECT_EQ(inb(0xcfc), 0xffu);
}

TEST_F(PcTest, command_register_bits_stick) {
  cfg_write(0, 0x04, 0x7, 2);
  EXPECT_EQ(cfg_read(0, 0x04, 2), 0x7u);
  cfg_write(0, 0x04, 0x0, 2);
}

TEST_F(PcTest, fw_cfg_ram_size_is_little_endian_at_key_3) {
  outw(0x510, 0x0003);
  uint64_t size = 0;
  for (int i = 0; i < 8; ++i) size |= static_cast<uint64_t>(inb(0x511)) << (8 * i);
  EXPECT_EQ(size, kRamSize);
  // Past the end: zeros.
  EXPECT_EQ(inb(0x511), 0u);
}

TEST_F(PcTest, fw_cfg_signature_and_reselect_rewinds) {
  outw(0x510, 0x0000);
  std::string sig;
  for (int i = 0; i < 4; ++i) sig += static_cast<char>(inb(0x511));
  EXPECT_EQ(sig, "QEMU");
  outw(0x510, 0x0000);
  EXPECT_EQ(inb(0x511), static_cast<uint32_t>('Q'));
  outw(0x510, 0x0005);  // CPU count
  EXPECT_EQ(inb(0x511), 1u);
  outw(0x510, 0x7777);  // unknown key
  EXPECT_EQ(inb(0x511), 0u);
}

TEST_F(PcTest, ram_is_guest_memory_from_zero) {
  EXPECT_EQ(g_pc->ram_size(), kRamSize);
  EXPECT_EQ(g_pc->below_4g_ram(), kRamSize);
  EXPECT_EQ(g_pc->above_4g_ram(), 0u);
  mem().write_value(0x100000, 0xdeadbeef, 4);
  EXPECT_EQ(g_pc->ram_host()[0x100000], 0xef);
  EXPECT_EQ(mem().read_value(kRamSize - 4, 4), 0u);
  EXPECT_EQ(mem().read_value(kRamSize, 4), 0u);  // above RAM: unassigned
}

TEST_F(PcTest, reset_control_register_requests_a_reset) {
  outb(0xcf9, 0x02);
  EXPECT_EQ(resets_, 0);
  outb(0xcf9, 0x06);
  EXPECT_EQ(resets_, 1);
  EXPECT_EQ(poweroffs_, 0);
}

TEST_F(PcTest, pm1_control_sleep_enable_with_type_0_powers_off) {
  outw(0x604, 0x2000);
  EXPECT_EQ(poweroffs_, 1);
  outw(0x604, 0x2400);  // SLP_TYP 1: not S5
  outw(0x604, 0x0000);
  EXPECT_EQ(poweroffs_, 1);
  EXPECT_EQ(resets_, 0);
}

TEST_F(PcTest, msi_window_writes_go_to_the_accelerator) {
  mem().write_value(0xfee01000, 0x4041, 4);
  mem().write_value(0xfeefffffc, 0x1, 4);
  ASSERT_EQ(g_accel->msis.size(), 1u);
  EXPECT_EQ(g_accel->msis[0], (std::pair<uint64_t, uint32_t>{0xfee01000, 0x4041}));
  EXPECT_EQ(mem().read_value(0xfee00000, 4), 0u);
}

TEST_F(PcTest, ioapic_resolves_by_partial_path) {
  Object* ioapic = resolve_path("ioapic");
  ASSERT_NE(ioapic, nullptr);
  EXPECT_EQ(ioapic, &g_pc->ioapic());
  EXPECT_EQ(ioapic->path(), "/machine/ioapic");
  EXPECT_EQ(g_pc->ioapic().irq_count(), 24u);
}

TEST_F(PcTest, hotplug_registers_read_zero_when_idle) {
  EXPECT_EQ(inl(0xae00), 0u);
  EXPECT_EQ(inl(0xae04), 0u);
  EXPECT_EQ(inl(0xae08), 0u);
  // Slots 0 and 1 hold the chipset: not removable; empty slots are.
  EXPECT_EQ(inl(0xae0c), 0xfffffffcu);
}

TEST_F(PcTest, pci_bus_is_the_default_and_named_pci_0) {
  EXPECT_EQ(g_pc->default_bus("PCI"), &g_pc->pci_bus());
  EXPECT_EQ(g_pc->find_bus("pci.0"), &g_pc->pci_bus());
  EXPECT_TRUE(g_pc->pci_bus().hotpluggable());
}

TEST_F(PcTest, chipset_slots_are_taken) {
  EXPECT_EQ(add_device_error("test-hotplug-fn,addr=0.0"),
            "PCI: slot 0 function 0 not available for test-hotplug-fn, in use by i440FX,id=(null)");
  EXPECT_EQ(add_device_error("test-hotplug-fn,addr=1.1"), "(ok)");  // PIIX3 is multifunction
}

TEST_F(PcTest, device_del_then_guest_eject_emits_device_deleted) {
  auto r = add_device(R"({"driver":"test-hotplug-fn","id":"iv1","addr":"6"})", OptionSource::Qmp, true);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(cfg_read(6 << 3, 0, 4), 0x11ee1234u);
  ASSERT_TRUE(device_del("iv1").ok());
  EXPECT_EQ(inl(0xae04), 1u << 6);
  EXPECT_TRUE(g_events.empty());
  EXPECT_EQ(device_del("iv1").error().message(), "Device iv1 is already in the process of unplug");
  outl(0xae08, 1u << 6);
  ASSERT_EQ(g_events.size(), 1u);
  EXPECT_EQ(g_events[0].first, "DEVICE_DELETED");
  EXPECT_EQ(g_events[0].second, (nlohmann::json{{"device", "iv1"}, {"path", "/machine/peripheral/iv1"}}));
  EXPECT_EQ(inl(0xae04), 0u);
  EXPECT_EQ(find_device("iv1"), nullptr);
  EXPECT_EQ(cfg_read(6 << 3, 0, 4), 0xffffffffu);
  EXPECT_TRUE(add_device("test-hotplug-fn,addr=6").ok());  // the slot is free again
}

TEST_F(PcTest, eject_of_the_chipset_slot_is_ignored) {
  outl(0xae08, 1u << 1);
  EXPECT_EQ(cfg_read(1 << 3, 0, 4), 0x70008086u);
  outl(0xae08, 1u << 0);
  EXPECT_EQ(cfg_read(0, 0, 4), 0x12378086u);
  EXPECT_TRUE(g_events.empty());
}

TEST_F(PcTest, machine_reset_clears_pending_unplugs_and_device_state) {
  auto r = add_device("test-hotplug-fn,id=iv1,addr=6");
  ASSERT_TRUE(r.ok());
  cfg_write(6 << 3, 0x10, 0xe0000000, 4);
  cfg_write(6 << 3, 0x04, 0x2, 2);
  ASSERT_TRUE(device_del("iv1").ok());
  g_pc->reset();
  EXPECT_EQ(inl(0xae04), 0u);
  EXPECT_EQ(cfg_read(6 << 3, 0x04, 2), 0u);
  // The request went with the reset: it can be made again, and the guest can then eject.
  EXPECT_FALSE((*r)->unplug_pending());
  ASSERT_TRUE(device_del("iv1").ok());
  EXPECT_EQ(inl(0xae04), 1u << 6);
  outl(0xae08, 1u << 6);
  EXPECT_EQ(g_events.size(), 1u);
}

// A function with 2 MSI-X vectors in BAR1, to see MSI-X reach the accelerator through the
// machine's MSI window.
class MsixFunction : public PciDevice {
 public:
  Msix* msix() { return msix_.get(); }

 protected:
  Status do_realize() override {
    NN_TRY(pci_realize());
    set_identity({.vendor = 0x1234, .device = 0x11ef});
    msix_ = std::make_unique<Msix>(*this, 2, 1);
    register_bar(1, 0, msix_->bar_region());
    return {};
  }
  void do_unrealize() override {
    pci_unrealize();
    msix_.reset();
  }
  void config_written(uint32_t offset, uint32_t, unsigned len) override { msix_->config_written(offset, len); }

 private:
  std::unique_ptr<Msix> msix_;
};
const TypeRegistration kMsixFunction{TypeInfo{.name = "test-msix-fn",
                                              .parent = std::string(kPciDeviceType),
                                              .factory = make_factory<MsixFunction>(),
                                              .category = "Misc devices",
                                              .bus_type = "PCI"}};

TEST_F(PcTest, msix_vectors_reach_the_accelerator_through_the_msi_window) {
  auto r = add_device("test-msix-fn,addr=5");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto* f = static_cast<MsixFunction*>(*r);
  const int devfn = 5 << 3;
  // As libqos: map the MSI-X BAR, enable bus mastering and MSI-X, program and unmask vector 1.
  cfg_write(devfn, 0x14, 0xe0000000, 4);
  cfg_write(devfn, 0x04, 0x6, 2);
  uint8_t cap = static_cast<uint8_t>(cfg_read(devfn, 0x34, 1));
  EXPECT_EQ(cfg_read(devfn, cap, 1), 0x11u);
  cfg_write(devfn, cap + 2, cfg_read(devfn, cap + 2, 2) | 0x8000, 2);
  mem().write_value(0xe0000010, 0xfee01000, 4);
  mem().write_value(0xe0000014, 0, 4);
  mem().write_value(0xe0000018, 0x4042, 4);
  f->msix()->notify(1);  // still masked: pending
  EXPECT_TRUE(g_accel->msis.empty());
  EXPECT_EQ(mem().read_value(0xe0000800, 4), 0x2u);
  mem().write_value(0xe000001c, 0, 4);  // unmask
  ASSERT_EQ(g_accel->msis.size(), 1u);
  EXPECT_EQ(g_accel->msis[0], (std::pair<uint64_t, uint32_t>{0xfee01000, 0x4042}));
  EXPECT_EQ(mem().read_value(0xe0000800, 4), 0u);
}

}  // namespace
}  // namespace nahanni::test
