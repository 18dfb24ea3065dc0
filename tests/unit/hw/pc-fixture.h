// One pc machine per test binary (the machine is a process singleton), brought up by a gtest
// environment, and a fixture with the guest's port and config-space accessors.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "backends/hostmem.h"
#include "hw/core/qdev-monitor.h"
#include "hw/i386/pc.h"
#include "monitor/events.h"
#include "qom/type.h"
#include "qom/user-creatable.h"
#include "system/accel.h"
#include "system/memory.h"
#include "util/keyval.h"
#include "util/log.h"

namespace nahanni::test {

inline constexpr uint64_t kRamSize = 256ull << 20;

class TestAccel : public Accelerator {
 public:
  Status init(Machine&) override { return {}; }
  void deliver_msi(uint64_t address, uint32_t data) override { msis.emplace_back(address, data); }
  std::vector<std::pair<uint64_t, uint32_t>> msis;
};

inline PcMachine* g_pc = nullptr;
inline TestAccel* g_accel = nullptr;

class PcEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    auto obj = TypeRegistry::instance().create(find_machine_type("pc")->qom_type());
    ASSERT_NE(obj, nullptr);
    g_pc = static_cast<PcMachine*>(object_root().add_child("machine", std::move(obj)));
    set_current_machine(g_pc);
    Status st = g_pc->init(MachineConfig{.ram_size = kRamSize});
    ASSERT_TRUE(st.ok()) << st.error().message();
    g_accel = new TestAccel;
    set_current_accel(g_accel);
    g_pc->reset();
  }
  void TearDown() override {
    set_current_accel(nullptr);
    delete g_accel;
    set_current_machine(nullptr);
    (void)object_root().remove_child("machine");  // while the memory layer's statics still live
    g_pc = nullptr;
  }
};
inline ::testing::Environment* const kPcEnvironment = ::testing::AddGlobalTestEnvironment(new PcEnvironment);

inline std::vector<std::pair<std::string, nlohmann::json>> g_events;
inline std::vector<std::string> g_log;
inline void capture_log(std::string_view line) { g_log.emplace_back(line); }

class PcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(g_pc, nullptr);
    g_events.clear();
    g_log.clear();
    g_accel->msis.clear();
    listener_ = add_event_listener([](const std::string& n, const nlohmann::json& d) { g_events.emplace_back(n, d); });
    g_pc->on_guest_reset = [this] { ++resets_; };
    g_pc->on_guest_poweroff = [this] { ++poweroffs_; };
    log::set_program_name("nahanni-system-x86_64");
    log::set_sink(capture_log);
  }
  void TearDown() override {
    log::set_sink(nullptr);
    remove_event_listener(listener_);
    g_pc->on_guest_reset = nullptr;
    g_pc->on_guest_poweroff = nullptr;
    // Remove user devices, then their backends.
    for (Device* d : g_pc->pci_bus().devices())
      if (d->parent() && d->parent()->name().starts_with("peripheral")) device_remove(*d);
    std::vector<std::string> ids;
    for (auto& [name, child] : objects_container().children()) ids.push_back(name);
    for (auto& id : ids) (void)objects_container().remove_child(id);
    g_pc->reset();
  }

  AddressSpace& io() { return *g_pc->io(); }
  AddressSpace& mem() { return *g_pc->memory(); }
  void outl(uint16_t port, uint32_t v) { io().write_value(port, v, 4); }
  void outw(uint16_t port, uint16_t v) { io().write_value(port, v, 2); }
  void outb(uint16_t port, uint8_t v) { io().write_value(port, v, 1); }
  uint32_t inl(uint16_t port) { return static_cast<uint32_t>(io().read_value(port, 4)); }
  uint32_t inw(uint16_t port) { return static_cast<uint32_t>(io().read_value(port, 2)); }
  uint32_t inb(uint16_t port) { return static_cast<uint32_t>(io().read_value(port, 1)); }

  static uint32_t address(int devfn, uint8_t offset) { return 0x80000000u | (devfn << 8) | offset; }
  // As libqos does it: CF8 keeps the offset's low bits, the data port is always 0xcfc.
  uint32_t cfg_read(int devfn, uint8_t offset, unsigned len) {
    outl(0xcf8, address(devfn, offset));
    return static_cast<uint32_t>(io().read_value(0xcfc, len));
  }
  void cfg_write(int devfn, uint8_t offset, uint32_t v, unsigned len) {
    outl(0xcf8, address(devfn, offset));
    io().write_value(0xcfc, v, len);
  }

  Result<Device*> add_device(std::string_view arg, OptionSource source = OptionSource::CommandLine,
                             bool hotplug = false) {
    auto opts = parse_option_argument(arg, "driver");
    if (!opts) return opts.error();
    return device_add(std::move(*opts), source, hotplug);
  }
  std::string add_device_error(std::string_view arg) {
    auto r = add_device(arg);
    return r ? std::string("(ok)") : r.error().message();
  }
  HostMemoryBackend* add_backend(std::string_view arg) {
    auto opts = parse_option_argument(arg, "qom-type");
    EXPECT_TRUE(opts.ok());
    auto r = user_creatable_add(std::move(*opts), OptionSource::CommandLine);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? dynamic_cast<HostMemoryBackend*>(*r) : nullptr;
  }

  int resets_ = 0, poweroffs_ = 0;
  int listener_ = 0;
};

}  // namespace nahanni::test
