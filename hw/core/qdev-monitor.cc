#include "hw/core/qdev-monitor.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>

#include "hw/core/bus.h"
#include "hw/core/machine.h"
#include "monitor/events.h"
#include "qom/type.h"

namespace nahanni {
namespace {

Object& peripheral() { return *object_root().container("machine")->container("peripheral"); }
Object& peripheral_anon() { return *object_root().container("machine")->container("peripheral-anon"); }

std::string next_anon_name() {
  static int counter = 0;
  while (true) {
    std::string name = fmt::format("device[{}]", counter++);
    if (!peripheral_anon().child(name)) return name;
  }
}

struct GlobalProperty {
  std::string driver, property;
  OptionValue value;
};
std::vector<GlobalProperty>& globals() {
  static std::vector<GlobalProperty> g;
  return g;
}

}  // namespace

Status qdev_add_global(std::string_view text) {
  size_t dot = text.find('.');
  size_t eq = text.find('=');
  if (dot == std::string_view::npos || eq == std::string_view::npos || dot > eq || dot == 0 || eq == dot + 1)
    return Error::format("Invalid format: expected DRIVER.PROPERTY=VALUE");
  globals().push_back({std::string(text.substr(0, dot)), std::string(text.substr(dot + 1, eq - dot - 1)),
                       OptionValue::from_text(std::string(text.substr(eq + 1)))});
  return {};
}

Device* find_device(std::string_view id_or_path) {
  Object* obj = id_or_path.starts_with("/") ? resolve_path(id_or_path) : peripheral().child(id_or_path);
  return dynamic_cast<Device*>(obj);
}

Result<Device*> device_add(OptionList opts, OptionSource source, bool hotplug) {
  std::optional<OptionValue> driver = opts.take("driver");
  if (!driver || (driver->kind != OptionValue::Kind::Text && driver->kind != OptionValue::Kind::JsonString))
    return Error("Parameter 'driver' is missing");
  const std::string type_name = driver->text;
  auto& registry = TypeRegistry::instance();
  const TypeInfo* type = registry.find(type_name);
  if (!type || type->abstract || !registry.is_a(type_name, kDeviceType) ||
      (!type->user_creatable && source != OptionSource::Internal))
    return Error::format("'{}' is not a valid device model name", type_name);
  // QEMU refuses a type that cannot be hotplugged before it looks at the id or the bus.
  if (hotplug && !type->hotpluggable) return Error("Parameter 'driver' expects a pluggable device type");

  std::string id;
  if (std::optional<OptionValue> id_value = opts.take("id")) {
    NN_ASSIGN_OR_RETURN(id, parse_string_value("id", *id_value));
    if (!is_valid_id(id)) return invalid_id_error();
    if (peripheral().child(id)) {
      if (source == OptionSource::Qmp) return Error::format("Duplicate device ID '{}'", id);
      return Error::format("Duplicate ID '{}' for device", id);
    }
  }

  Machine* machine = current_machine();
  Bus* bus = nullptr;
  if (std::optional<OptionValue> bus_value = opts.take("bus")) {
    NN_ASSIGN_OR_RETURN(std::string bus_name, parse_string_value("bus", *bus_value));
    bus = machine ? machine->find_bus(bus_name) : nullptr;
    if (!bus) return Error(fmt::format("Bus '{}' not found", bus_name), Error::Class::DeviceNotFound);
    if (bus->type() != type->bus_type)
      return Error::format("Device '{}' can't go on {} bus", type_name, bus->type());
  } else if (!type->bus_type.empty()) {
    bus = machine ? machine->default_bus(type->bus_type) : nullptr;
    if (!bus) return Error::format("No '{}' bus found for device '{}'", type->bus_type, type_name);
  }
  if (hotplug && bus && !bus->hotpluggable())
    return Error::format("Bus '{}' does not support hotplugging", bus->name());

  std::unique_ptr<Object> obj = registry.create(type_name);
  auto* dev = static_cast<Device*>(obj.get());
  dev->set_id(id);
  for (const GlobalProperty& g : globals()) {
    if (!registry.is_a(type_name, g.driver)) continue;
    // QEMU names the global that failed: "can't apply global D.P=V: <reason>".
    Status st = dev->find_property(g.property)
                    ? dev->set_property(g.property, g.value)
                    : Status(Error::format("Property '{}.{}' not found", type_name, g.property));
    if (!st)
      return std::move(st).error().prepend(
          fmt::format("can't apply global {}.{}={}: ", g.driver, g.property, g.value.text));
  }
  for (const auto& [key, value] : opts.items) {
    if (!dev->find_property(key)) return Error::format("Property '{}.{}' not found", type_name, key);
    NN_TRY(dev->set_property(key, source == OptionSource::Qmp ? value.lenient() : value));
  }

  Object& parent = id.empty() ? peripheral_anon() : peripheral();
  std::string child_name = id.empty() ? next_anon_name() : id;
  parent.add_child(child_name, std::move(obj));
  dev->set_hotplugged(hotplug);
  dev->set_parent_bus(bus);
  if (bus) {
    if (Status st = bus->plug(*dev); !st) {
      parent.remove_child(child_name);
      return std::move(st).error();
    }
  }
  if (Status st = dev->realize(); !st) {
    if (bus) bus->unplug(*dev);
    parent.remove_child(child_name);
    return std::move(st).error();
  }
  if (hotplug) dev->reset();
  return dev;
}

Status device_del(std::string_view id_or_path) {
  Device* dev = find_device(id_or_path);
  if (!dev) return Error(fmt::format("Device '{}' not found", id_or_path), Error::Class::DeviceNotFound);
  if (dev->unplug_pending())
    return Error::format("Device {} is already in the process of unplug", dev->id().empty() ? dev->path() : dev->id());
  Bus* bus = dev->parent_bus();
  if (!bus) return Error::format("Device '{}' does not support hotplugging", dev->type_name());
  if (!dev->type().hotpluggable) return Error::format("Device '{}' does not support hotplugging", dev->type_name());
  return bus->request_unplug(*dev);
}

void device_remove(Device& dev) {
  std::string id = dev.id();
  std::string path = dev.path();
  dev.unrealize();
  if (Bus* bus = dev.parent_bus()) bus->unplug(dev);
  Object* parent = dev.parent();
  std::string name = dev.name();
  if (parent) parent->remove_child(name);  // destroys the device
  nlohmann::json data = nlohmann::json::object();
  if (!id.empty()) data["device"] = id;
  data["path"] = path;
  emit_event("DEVICE_DELETED", data);
}

std::string device_list_help() {
  // QEMU's category order.
  static constexpr std::array kCategories = {"Controller/Bridge/Hub devices", "USB devices", "Storage devices",
                                             "Network devices", "Input devices", "Display devices",
                                             "Sound devices", "Misc devices", "CPU devices", "Watchdog devices",
                                             "Uncategorized devices"};
  auto types = TypeRegistry::instance().list(kDeviceType, false);
  std::string out;
  for (std::string_view category : kCategories) {
    std::string block;
    for (const TypeInfo* t : types) {
      std::string_view cat = t->category.empty() ? "Uncategorized devices" : std::string_view(t->category);
      if (cat != category || !t->user_creatable) continue;  // QEMU hides what users cannot create
      block += fmt::format("name \"{}\"", t->name);
      if (!t->bus_type.empty()) block += fmt::format(", bus {}", t->bus_type);
      if (!t->description.empty()) block += fmt::format(", desc \"{}\"", t->description);
      block += '\n';
    }
    if (block.empty()) continue;
    if (!out.empty()) out += '\n';
    out += fmt::format("{}:\n{}", category, block);
  }
  return out;
}

Result<std::string> device_type_help(std::string_view type_name) {
  auto& registry = TypeRegistry::instance();
  const TypeInfo* type = registry.find(type_name);
  if (!type || type->abstract || !registry.is_a(type_name, kDeviceType))
    return Error::format("'{}' is not a valid device model name", type_name);
  return format_property_help(type_name, fmt::format("{} options", type_name));
}

}  // namespace nahanni
