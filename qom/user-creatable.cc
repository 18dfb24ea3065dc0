#include "qom/user-creatable.h"

#include <fmt/format.h>

#include "qom/type.h"

namespace nahanni {

Result<Object*> user_creatable_add(OptionList opts, OptionSource source) {
  std::optional<OptionValue> type_value = opts.take("qom-type");
  if (!type_value) {
    if (opts.help) return Error("help requested");  // callers handle help before this point
    return Error("Parameter 'qom-type' is missing");
  }
  NN_ASSIGN_OR_RETURN(std::string type_name, parse_string_value("qom-type", *type_value));
  const TypeInfo* type = TypeRegistry::instance().find(type_name);
  if (!type || type->abstract || !type->user_creatable || !TypeRegistry::instance().is_a(type_name, kUserCreatable))
    return Error::format("Parameter 'qom-type' does not accept value '{}'", type_name);

  std::optional<OptionValue> id_value = opts.take("id");
  if (!id_value) return Error("Parameter 'id' is missing");
  NN_ASSIGN_OR_RETURN(std::string id, parse_string_value("id", *id_value));
  if (!is_valid_id(id)) return invalid_id_error();
  if (find_user_object(id)) {
    if (source == OptionSource::Qmp)
      return Error::format("attempt to add duplicate property '{}' to object (type 'container')", id);
    return Error::format("Duplicate ID '{}' for object", id);
  }

  // QEMU's order: required members, then the values of known ones, then unknown keys.
  for (const PropertyInfo* p : TypeRegistry::instance().properties_of(type_name))
    if (p->required && !opts.has(p->name)) return Error::format("Parameter '{}' is missing", p->name);
  std::unique_ptr<Object> obj = TypeRegistry::instance().create(type_name);
  std::optional<std::string> unknown;
  for (const auto& [key, value] : opts.items) {
    if (!obj->find_property(key)) {
      if (!unknown) unknown = key;
      continue;
    }
    NN_TRY(obj->set_property(key, value));
  }
  if (unknown) {
    if (source == OptionSource::CommandLine && !opts.from_json) return Error::format("Invalid parameter '{}'", *unknown);
    return Error::format("Parameter '{}' is unexpected", *unknown);
  }
  // The id is known before completion so messages and paths can use it.
  Object* added = objects_container().add_child(id, std::move(obj));
  if (Status st = added->complete(); !st) {
    objects_container().remove_child(id);
    return std::move(st).error();
  }
  return added;
}

Status user_creatable_del(std::string_view id) {
  Object* obj = find_user_object(id);
  if (!obj) return Error::format("object '{}' not found", id);
  if (!obj->can_be_deleted()) return Error::format("object '{}' is in use, can not be deleted", id);
  objects_container().remove_child(id);
  return {};
}

std::string user_creatable_list_help() {
  std::string out = "List of user creatable objects:\n";
  for (const TypeInfo* t : TypeRegistry::instance().list(kUserCreatable, false))
    if (t->user_creatable) out += fmt::format("  {}\n", t->name);
  return out;
}

}  // namespace nahanni
