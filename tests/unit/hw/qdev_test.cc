// qdev: device_add/device_del with QEMU's messages, -global defaults, realize and unplug on a
// test bus and machine, DEVICE_DELETED, help text, machine types.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>

#include "hw/core/bus.h"
#include "hw/core/machine.h"
#include "hw/core/qdev-monitor.h"
#include "monitor/events.h"
#include "qom/property.h"
#include "qom/type.h"
#include "util/keyval.h"

namespace nahanni {
namespace {

class TestDevice : public Device {
 public:
  uint32_t level_ = 1;  // the default help shows
  bool fail_realize_ = false;
  std::string note_;
  int realizes_ = 0, unrealizes_ = 0, resets_ = 0;
  void reset() override { ++resets_; }

 protected:
  Status do_realize() override {
    ++realizes_;
    if (fail_realize_) return Error("test-dev refused to realize");
    return {};
  }
  void do_unrealize() override { ++unrealizes_; }
};

std::vector<PropertyInfo> test_device_properties() {
  return {uint_property<TestDevice, uint32_t>("level", &TestDevice::level_, "", 1u),
          bool_property<TestDevice>("fail-realize", &TestDevice::fail_realize_, "on/off", false),
          string_property<TestDevice>("note", &TestDevice::note_, "")};
}

TypeInfo device_type(std::string name, std::string parent, std::string bus_type) {
  return TypeInfo{.name = std::move(name), .parent = std::move(parent), .factory = make_factory<TestDevice>(),
                  .category = "Misc devices", .bus_type = std::move(bus_type)};
}

const TypeRegistration kTestDev{[] {
  TypeInfo t = device_type("test-dev", std::string(kDeviceType), "TEST");
  t.description = "A test device";
  t.properties = test_device_properties();
  return t;
}()};
const TypeRegistration kTestDevSub{device_type("test-dev-sub", "test-dev", "TEST")};
const TypeRegistration kGlobalDev{[] {
  TypeInfo t = device_type("test-global-dev", std::string(kDeviceType), "TEST");
  t.properties = test_device_properties();
  return t;
}()};
const TypeRegistration kGlobalDevSub{device_type("test-global-dev-sub", "test-global-dev", "TEST")};
const TypeRegistration kGlobalBad{[] {
  TypeInfo t = device_type("test-global-bad", std::string(kDeviceType), "TEST");
  t.properties = test_device_properties();
  return t;
}()};
const TypeRegistration kOtherBusDev{device_type("test-otherbus-dev", std::string(kDeviceType), "OTHER")};
const TypeRegistration kBuslessDev{[] {
  TypeInfo t = device_type("test-busless-dev", std::string(kDeviceType), "");
  t.category = "";
  return t;
}()};
const TypeRegistration kNoUserDev{[] {
  TypeInfo t = device_type("test-nouser-dev", std::string(kDeviceType), "TEST");
  t.user_creatable = false;
  return t;
}()};
const TypeRegistration kNoHotplugDev{[] {
  TypeInfo t = device_type("test-nohotplug-dev", std::string(kDeviceType), "TEST");
  t.hotpluggable = false;
  return t;
}()};
const TypeRegistration kAbstractDev{
    TypeInfo{.name = "test-abstract-dev", .parent = std::string(kDeviceType), .abstract = true}};

// A bus with 4 slots; device_del marks the device pending, eject() finishes.
class TestBus : public Bus {
 public:
  TestBus() : Bus("test.0", "TEST") {}
  bool hotplug = true;
  std::vector<Device*> plugged;
  Status plug(Device& dev) override {
    if (plugged.size() >= 4) return Error("test.0 is full");
    plugged.push_back(&dev);
    return {};
  }
  void unplug(Device& dev) override { plugged.erase(std::remove(plugged.begin(), plugged.end(), &dev), plugged.end()); }
  Status request_unplug(Device& dev) override {
    if (!hotplug) return Bus::request_unplug(dev);
    dev.set_unplug_pending(true);
    return {};
  }
  bool hotpluggable() const override { return hotplug; }
  std::vector<Device*> devices() const override { return plugged; }
};

class TestMachine : public Machine {
 public:
  TestBus bus;
  Status init(const MachineConfig& config) override {
    ram_size_ = config.ram_size;
    return {};
  }
  std::vector<Bus*> buses() override { return {&bus}; }
};

std::vector<std::pair<std::string, nlohmann::json>> g_events;

class QdevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(machine_.init(MachineConfig{}).ok());
    set_current_machine(&machine_);
    g_events.clear();
    listener_ = add_event_listener([](const std::string& name, const nlohmann::json& data) {
      g_events.emplace_back(name, data);
    });
  }
  void TearDown() override {
    remove_event_listener(listener_);
    for (Device* d : std::vector<Device*>(machine_.bus.plugged)) {
      d->unrealize();
      machine_.bus.unplug(*d);
    }
    (void)object_root().remove_child("machine");
    set_current_machine(nullptr);
  }
  Result<Device*> add(std::string_view arg, OptionSource source = OptionSource::CommandLine, bool hotplug = false) {
    auto opts = parse_option_argument(arg, "driver");
    if (!opts) return opts.error();
    return device_add(std::move(*opts), source, hotplug);
  }
  std::string add_error(std::string_view arg, OptionSource source = OptionSource::CommandLine, bool hotplug = false) {
    auto r = add(arg, source, hotplug);
    return r ? std::string("(ok)") : r.error().message();
  }
  TestMachine machine_;
  int listener_ = 0;
};

TEST_F(QdevTest, device_add_with_id_lands_in_peripheral_realized_and_plugged) {
  auto r = add("test-dev,id=a,level=9,note=hi");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto* d = static_cast<TestDevice*>(*r);
  EXPECT_EQ(d->path(), "/machine/peripheral/a");
  EXPECT_EQ(d->id(), "a");
  EXPECT_TRUE(d->realized());
  EXPECT_EQ(d->realizes_, 1);
  EXPECT_EQ(d->level_, 9u);
  EXPECT_EQ(d->note_, "hi");
  EXPECT_EQ(d->parent_bus(), &machine_.bus);
  EXPECT_EQ(machine_.bus.plugged, std::vector<Device*>{d});
  EXPECT_FALSE(d->hotplugged());
  EXPECT_EQ(d->resets_, 0);  // cold-plugged devices are reset with the machine
  EXPECT_EQ(find_device("a"), d);
  EXPECT_EQ(find_device("/machine/peripheral/a"), d);
}

TEST_F(QdevTest, anonymous_devices_are_numbered_in_peripheral_anon) {
  auto r1 = add("test-dev");
  auto r2 = add("test-dev");
  ASSERT_TRUE(r1.ok() && r2.ok());
  EXPECT_EQ((*r1)->parent()->path(), "/machine/peripheral-anon");
  EXPECT_NE((*r1)->name(), (*r2)->name());
  EXPECT_EQ((*r1)->name().rfind("device[", 0), 0u);
  EXPECT_TRUE((*r1)->id().empty());
}

TEST_F(QdevTest, hotplugged_device_is_reset_after_realize) {
  auto r = add("test-dev,id=h", OptionSource::Qmp, true);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_TRUE((*r)->hotplugged());
  EXPECT_EQ(static_cast<TestDevice*>(*r)->resets_, 1);
}

TEST_F(QdevTest, driver_is_required) {
  EXPECT_EQ(add_error("id=a"), "Parameter 'driver' is missing");
  EXPECT_EQ(add_error(R"({"id":"a"})", OptionSource::Qmp), "Parameter 'driver' is missing");
}

TEST_F(QdevTest, driver_must_name_a_concrete_user_device) {
  EXPECT_EQ(add_error("nosuchdev"), "'nosuchdev' is not a valid device model name");
  EXPECT_EQ(add_error("device"), "'device' is not a valid device model name");
  EXPECT_EQ(add_error("test-abstract-dev"), "'test-abstract-dev' is not a valid device model name");
  EXPECT_EQ(add_error("test-nouser-dev"), "'test-nouser-dev' is not a valid device model name");
  EXPECT_EQ(add_error("memory-backend-ram"), "'memory-backend-ram' is not a valid device model name");
  // A doubled comma in the implied value is part of the name.
  EXPECT_EQ(add_error("test-dev,,level=1"), "'test-dev,level=1' is not a valid device model name");
}

TEST_F(QdevTest, unknown_property_names_the_type) {
  EXPECT_EQ(add_error("test-dev,foo=1"), "Property 'test-dev.foo' not found");
  EXPECT_EQ(add_error(R"({"driver":"test-dev","foo":1})", OptionSource::Qmp), "Property 'test-dev.foo' not found");
  EXPECT_TRUE(machine_.bus.plugged.empty());
}

TEST_F(QdevTest, property_value_errors_pass_through) {
  EXPECT_EQ(add_error("test-dev,level=x"), "Parameter 'level' expects integer");
  EXPECT_EQ(add_error("test-dev,fail-realize=maybe"), "Parameter 'fail-realize' expects 'on' or 'off'");
}

TEST_F(QdevTest, qmp_accepts_strings_for_scalars) {
  auto r = add(R"({"driver":"test-dev","id":"q","level":"12","fail-realize":"off"})", OptionSource::Qmp, true);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(static_cast<TestDevice*>(*r)->level_, 12u);
}

TEST_F(QdevTest, duplicate_id_on_the_command_line_and_in_qmp) {
  ASSERT_TRUE(add("test-dev,id=a").ok());
  EXPECT_EQ(add_error("test-dev,id=a"), "Duplicate ID 'a' for device");
  EXPECT_EQ(add_error(R"({"driver":"test-dev","id":"a"})", OptionSource::Qmp, true), "Duplicate device ID 'a'");
  EXPECT_EQ(machine_.bus.plugged.size(), 1u);
}

TEST_F(QdevTest, invalid_id) {
  auto r = add("test-dev,id=9a");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Parameter 'id' expects an identifier");
}

TEST_F(QdevTest, named_bus) {
  auto r = add("test-dev,bus=test.0");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->parent_bus(), &machine_.bus);
  auto bad = add("test-dev,bus=nope");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "Bus 'nope' not found");
  EXPECT_EQ(bad.error().error_class(), Error::Class::DeviceNotFound);
}

TEST_F(QdevTest, device_for_a_bus_the_machine_lacks) {
  EXPECT_EQ(add_error("test-otherbus-dev"), "No 'OTHER' bus found for device 'test-otherbus-dev'");
  EXPECT_EQ(add_error("test-otherbus-dev,bus=test.0"), "Device 'test-otherbus-dev' can't go on TEST bus");
}

TEST_F(QdevTest, busless_device_needs_no_bus) {
  auto r = add("test-busless-dev,id=s");
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ((*r)->parent_bus(), nullptr);
  (*r)->unrealize();
}

TEST_F(QdevTest, bus_refusing_the_plug_leaves_nothing_behind) {
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(add("test-dev").ok());
  EXPECT_EQ(add_error("test-dev,id=fifth"), "test.0 is full");
  EXPECT_EQ(find_device("fifth"), nullptr);
}

TEST_F(QdevTest, realize_failure_unplugs_and_destroys_the_device) {
  EXPECT_EQ(add_error("test-dev,id=f,fail-realize=on"), "test-dev refused to realize");
  EXPECT_EQ(find_device("f"), nullptr);
  EXPECT_TRUE(machine_.bus.plugged.empty());
  EXPECT_TRUE(add("test-dev,id=f").ok());  // the id is free again
}

TEST_F(QdevTest, hotplug_needs_a_hotpluggable_bus_and_device) {
  machine_.bus.hotplug = false;
  EXPECT_EQ(add_error(R"({"driver":"test-dev","id":"h"})", OptionSource::Qmp, true),
            "Bus 'test.0' does not support hotplugging");
  // A type that cannot be hotplugged is refused first, even on a bus that could take it.
  EXPECT_EQ(add_error(R"({"driver":"test-nohotplug-dev","id":"h"})", OptionSource::Qmp, true),
            "Parameter 'driver' expects a pluggable device type");
  machine_.bus.hotplug = true;
  EXPECT_EQ(add_error(R"({"driver":"test-nohotplug-dev","id":"h"})", OptionSource::Qmp, true),
            "Parameter 'driver' expects a pluggable device type");
  EXPECT_TRUE(add("test-nohotplug-dev,id=cold").ok());  // cold plug is fine
}

TEST_F(QdevTest, property_change_after_realize_is_refused) {
  auto r = add("test-dev,id=a");
  ASSERT_TRUE(r.ok());
  Status st = (*r)->set_property("level", OptionValue::from_text("3"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "Attempt to set property 'level' on device 'a' (type 'test-dev') after it was realized");
  auto anon = add("test-dev");
  ASSERT_TRUE(anon.ok());
  st = (*anon)->set_property("level", OptionValue::from_text("3"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(),
            "Attempt to set property 'level' on anonymous device (type 'test-dev') after it was realized");
  // Unknown names are still "not found", realized or not.
  EXPECT_EQ((*r)->set_property("nope", OptionValue::from_text("3")).error().message(),
            "Property 'test-dev.nope' not found");
  EXPECT_EQ(*(*r)->get_property("level"), 1u);
}

TEST_F(QdevTest, global_sets_a_default_for_the_type_and_its_subtypes) {
  ASSERT_TRUE(qdev_add_global("test-global-dev.level=5").ok());
  auto base = add("test-global-dev");
  auto sub = add("test-global-dev-sub");
  auto own = add("test-global-dev,level=6");
  auto other = add("test-dev");
  ASSERT_TRUE(base.ok() && sub.ok() && own.ok() && other.ok());
  EXPECT_EQ(static_cast<TestDevice*>(*base)->level_, 5u);
  EXPECT_EQ(static_cast<TestDevice*>(*sub)->level_, 5u);
  EXPECT_EQ(static_cast<TestDevice*>(*own)->level_, 6u);  // the device's own value wins
  EXPECT_EQ(static_cast<TestDevice*>(*other)->level_, 1u);
}

TEST_F(QdevTest, global_with_an_unknown_property_fails_the_device) {
  ASSERT_TRUE(qdev_add_global("test-global-bad.nope=1").ok());
  EXPECT_EQ(add_error("test-global-bad"),
            "can't apply global test-global-bad.nope=1: Property 'test-global-bad.nope' not found");
}

TEST_F(QdevTest, global_needs_driver_dot_property_equals_value) {
  for (const char* bad : {"nodot=1", "x.y", ".y=1", "x.=1"})
    EXPECT_FALSE(qdev_add_global(bad).ok()) << bad;
}

TEST_F(QdevTest, device_del_of_an_unknown_id) {
  Status st = device_del("nope");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "Device 'nope' not found");
  EXPECT_EQ(st.error().error_class(), Error::Class::DeviceNotFound);
}

TEST_F(QdevTest, device_del_asks_the_bus_then_remove_emits_device_deleted) {
  auto r = add("test-dev,id=a");
  ASSERT_TRUE(r.ok());
  auto* d = static_cast<TestDevice*>(*r);
  ASSERT_TRUE(device_del("a").ok());
  EXPECT_TRUE(d->unplug_pending());
  EXPECT_TRUE(g_events.empty());  // nothing until the guest agrees
  Status again = device_del("a");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message(), "Device a is already in the process of unplug");
  device_remove(*d);
  EXPECT_EQ(find_device("a"), nullptr);
  EXPECT_TRUE(machine_.bus.plugged.empty());
  ASSERT_EQ(g_events.size(), 1u);
  EXPECT_EQ(g_events[0].first, "DEVICE_DELETED");
  EXPECT_EQ(g_events[0].second, (nlohmann::json{{"device", "a"}, {"path", "/machine/peripheral/a"}}));
}

TEST_F(QdevTest, device_remove_of_an_anonymous_device_has_only_a_path) {
  auto r = add("test-dev");
  ASSERT_TRUE(r.ok());
  std::string path = (*r)->path();
  device_remove(**r);
  ASSERT_EQ(g_events.size(), 1u);
  EXPECT_EQ(g_events[0].second, (nlohmann::json{{"path", path}}));
}

TEST_F(QdevTest, unrealize_is_idempotent_and_realize_works_again) {
  auto r = add("test-dev,id=a");
  ASSERT_TRUE(r.ok());
  auto* d = static_cast<TestDevice*>(*r);
  d->unrealize();
  EXPECT_EQ(d->unrealizes_, 1);
  d->unrealize();  // idempotent
  EXPECT_EQ(d->unrealizes_, 1);
  EXPECT_TRUE(d->realize().ok());
  EXPECT_EQ(d->realizes_, 2);
}

TEST_F(QdevTest, device_del_on_a_bus_without_hotplug) {
  ASSERT_TRUE(add("test-dev,id=a").ok());
  machine_.bus.hotplug = false;
  EXPECT_EQ(device_del("a").error().message(), "Bus 'test.0' does not support hotplugging");
}

TEST_F(QdevTest, device_del_of_a_non_hotpluggable_device) {
  ASSERT_TRUE(add("test-nohotplug-dev,id=a").ok());
  EXPECT_EQ(device_del("a").error().message(), "Device 'test-nohotplug-dev' does not support hotplugging");
}

TEST_F(QdevTest, machine_reset_resets_every_device_on_its_buses) {
  auto a = add("test-dev");
  auto b = add("test-dev");
  ASSERT_TRUE(a.ok() && b.ok());
  machine_.reset();
  EXPECT_EQ(static_cast<TestDevice*>(*a)->resets_, 1);
  EXPECT_EQ(static_cast<TestDevice*>(*b)->resets_, 1);
}

TEST(QdevHelp, device_list_groups_by_category_and_hides_no_user_devices) {
  std::string help = device_list_help();
  EXPECT_NE(help.find("Misc devices:\n"), std::string::npos);
  EXPECT_NE(help.find("name \"test-dev\", bus TEST, desc \"A test device\"\n"), std::string::npos);
  EXPECT_NE(help.find("name \"test-dev-sub\", bus TEST\n"), std::string::npos);
  EXPECT_NE(help.find("Uncategorized devices:\nname \"test-busless-dev\"\n"), std::string::npos);
  // QEMU's -device help lists only what a user can create.
  EXPECT_EQ(help.find("test-nouser-dev"), std::string::npos);
  EXPECT_EQ(help.find("no-user"), std::string::npos);
  EXPECT_EQ(help.find("test-abstract-dev"), std::string::npos);
  // Blocks are separated by one blank line, misc before uncategorized.
  EXPECT_LT(help.find("Misc devices:"), help.find("Uncategorized devices:"));
  EXPECT_NE(help.find("\n\nUncategorized devices:\n"), std::string::npos);
}

TEST(QdevHelp, device_type_help_lists_properties) {
  auto help = device_type_help("test-dev");
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(*help,
            "test-dev options:\n"
            "  fail-realize=<bool>    - on/off (default: false)\n"
            "  level=<uint32>         -  (default: 1)\n"
            "  note=<str>\n");
  auto none = device_type_help("test-busless-dev");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, "There are no options for test-busless-dev.\n");
  auto bad = device_type_help("nosuchdev");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "'nosuchdev' is not a valid device model name");
}

TEST(MachineTypes, pc_and_versioned_names_find_the_i440fx_machine) {
  const MachineTypeInfo* pc = find_machine_type("pc");
  ASSERT_NE(pc, nullptr);
  EXPECT_EQ(pc->name, "pc-i440fx-7.2");
  EXPECT_EQ(pc->qom_type(), "pc-i440fx-7.2-machine");
  EXPECT_TRUE(pc->is_default);
  EXPECT_EQ(find_machine_type("pc-i440fx-7.2"), pc);
  EXPECT_EQ(find_machine_type("pc-i440fx-6.2"), pc);
  EXPECT_EQ(find_machine_type("pc-i440fx-"), nullptr);
  EXPECT_EQ(find_machine_type("q35"), nullptr);
  EXPECT_EQ(find_machine_type(""), nullptr);
  ASSERT_NE(find_machine_type("none"), nullptr);
  EXPECT_EQ(find_machine_type("none")->qom_type(), "none-machine");
  EXPECT_NE(TypeRegistry::instance().find(pc->qom_type()), nullptr);
  EXPECT_NE(TypeRegistry::instance().find("none-machine"), nullptr);
}

TEST(MachineTypes, list_help_has_qemus_columns) {
  std::string help = machine_list_help();
  EXPECT_EQ(help.rfind("Supported machines are:\n", 0), 0u);
  EXPECT_NE(help.find("\npc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
                      "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"),
            std::string::npos);
  EXPECT_NE(help.find("\nnone                 empty machine\n"), std::string::npos);
}

TEST(MachineTypes, none_machine_has_no_buses_or_address_spaces) {
  auto m = TypeRegistry::instance().create("none-machine");
  auto* machine = dynamic_cast<Machine*>(m.get());
  ASSERT_NE(machine, nullptr);
  ASSERT_TRUE(machine->init(MachineConfig{.ram_size = 64 << 20}).ok());
  EXPECT_EQ(machine->ram_size(), 64u << 20);
  EXPECT_TRUE(machine->buses().empty());
  EXPECT_EQ(machine->memory(), nullptr);
  EXPECT_EQ(machine->io(), nullptr);
  EXPECT_EQ(machine->default_bus("PCI"), nullptr);
  EXPECT_EQ(machine->find_bus("pci.0"), nullptr);
}

}  // namespace
}  // namespace nahanni
