// The object model over QMP: browsing the composition tree (qom-list, qom-get, qom-set), the
// type registry (qom-list-types, qom-list-properties, device-list-properties), and user objects
// (object-add, object-del). libvirt probes capabilities through the type commands.
#include <fmt/format.h>

#include "hw/core/device.h"
#include "monitor/qmp-options.h"
#include "monitor/qmp.h"
#include "qom/type.h"
#include "qom/user-creatable.h"

namespace nahanni {
namespace {

using json = nlohmann::json;

// ObjectPropertyInfo: name, type, and description / default-value when known.
json property_info(const PropertyInfo& p) {
  json info{{"name", p.name}, {"type", p.type}};
  if (!p.description.empty()) info["description"] = p.description;
  if (p.default_value) {
    json def = json::parse(*p.default_value, nullptr, /*allow_exceptions=*/false);
    info["default-value"] = def.is_discarded() ? json(*p.default_value) : def;
  }
  return info;
}

json type_property() { return json{{"name", "type"}, {"type", "string"}}; }

Result<Object*> resolve(const json& args) {
  const std::string path = args["path"].get<std::string>();
  Object* obj = resolve_path(path);
  if (!obj) return Error(fmt::format("Device '{}' not found", path), Error::Class::DeviceNotFound);
  return obj;
}

Result<json> qom_list(const json& args) {
  NN_ASSIGN_OR_RETURN(Object * obj, resolve(args));
  json list = json::array({type_property()});
  for (const auto& [name, child] : obj->children())
    list.push_back(json{{"name", name}, {"type", fmt::format("child<{}>", child->type_name())}});
  std::vector<std::pair<std::string, std::string>> dynamic;
  obj->list_dynamic_properties(dynamic);
  for (const auto& [name, type] : dynamic) list.push_back(json{{"name", name}, {"type", type}});
  for (const PropertyInfo* p : TypeRegistry::instance().properties_of(obj->type_name()))
    if (p->name != "type") list.push_back(property_info(*p));
  return list;
}

Result<json> qom_get(const json& args) {
  NN_ASSIGN_OR_RETURN(Object * obj, resolve(args));
  return obj->get_property(args["property"].get<std::string>());
}

Result<json> qom_set(const json& args) {
  NN_ASSIGN_OR_RETURN(Object * obj, resolve(args));
  const std::string name = args["property"].get<std::string>();
  const PropertyInfo* prop = obj->find_property(name);
  if (!prop && name != "type") return Error::format("Property '{}.{}' not found", obj->type_name(), name);
  if (name == "type" || !prop->set || prop->read_only)
    return Error::format("Property '{}.{}' is not writable", obj->type_name(), name);
  // Values keep their JSON type: qom-set is strict where device_add is lenient.
  NN_TRY(obj->set_property(name, option_value_from_json(args["value"])));
  return json::object();
}

Result<json> qom_list_types(const json& args) {
  std::string implements = args.value("implements", std::string());
  bool abstract = args.value("abstract", false);
  json list = json::array();
  for (const TypeInfo* t : TypeRegistry::instance().list(implements, abstract)) {
    json entry{{"name", t->name}};
    if (t->abstract) entry["abstract"] = true;
    if (!t->parent.empty()) entry["parent"] = t->parent;
    list.push_back(std::move(entry));
  }
  return list;
}

Result<json> qom_list_properties(const json& args) {
  const std::string type_name = args["typename"].get<std::string>();
  auto& registry = TypeRegistry::instance();
  if (!registry.find(type_name))
    return Error(fmt::format("Class '{}' not found", type_name), Error::Class::DeviceNotFound);
  json list = json::array({type_property()});
  for (const PropertyInfo* p : registry.properties_of(type_name))
    if (p->name != "type") list.push_back(property_info(*p));
  return list;
}

Result<json> device_list_properties(const json& args) {
  const std::string type_name = args["typename"].get<std::string>();
  auto& registry = TypeRegistry::instance();
  const TypeInfo* type = registry.find(type_name);
  if (!type) return Error(fmt::format("Device '{}' not found", type_name), Error::Class::DeviceNotFound);
  if (type->abstract || !registry.is_a(type_name, kDeviceType))
    return Error("Parameter 'typename' expects a non-abstract device type");
  json list = json::array();
  for (const PropertyInfo* p : registry.properties_of(type_name))
    if (p->name != "type") list.push_back(property_info(*p));
  return list;
}

Result<json> object_add(const json& args) {
  NN_TRY(user_creatable_add(option_list_from_qmp(args), OptionSource::Qmp));
  return json::object();
}

Result<json> object_del(const json& args) {
  NN_TRY(user_creatable_del(args["id"].get<std::string>()));
  return json::object();
}

const QmpCommandRegistration kQomList{
    QmpCommand{.name = "qom-list", .args = {{"path", QmpType::String}}, .handler = qom_list}};
const QmpCommandRegistration kQomGet{QmpCommand{
    .name = "qom-get", .args = {{"path", QmpType::String}, {"property", QmpType::String}}, .handler = qom_get}};
const QmpCommandRegistration kQomSet{QmpCommand{
    .name = "qom-set",
    .args = {{"path", QmpType::String}, {"property", QmpType::String}, {"value", QmpType::Any}},
    .handler = qom_set}};
const QmpCommandRegistration kQomListTypes{QmpCommand{
    .name = "qom-list-types",
    .args = {{"implements", QmpType::String, true}, {"abstract", QmpType::Bool, true}},
    .handler = qom_list_types}};
const QmpCommandRegistration kQomListProperties{QmpCommand{
    .name = "qom-list-properties", .args = {{"typename", QmpType::String}}, .handler = qom_list_properties}};
const QmpCommandRegistration kDeviceListProperties{QmpCommand{
    .name = "device-list-properties", .args = {{"typename", QmpType::String}}, .handler = device_list_properties}};
// Every member besides these is a property of the new object.
const QmpCommandRegistration kObjectAdd{QmpCommand{
    .name = "object-add",
    .args = {{"qom-type", QmpType::String}, {"id", QmpType::String}},
    .handler = object_add,
    .extra_args = true}};
const QmpCommandRegistration kObjectDel{
    QmpCommand{.name = "object-del", .args = {{"id", QmpType::String}}, .handler = object_del}};

}  // namespace
}  // namespace nahanni
