#include "qom/property.h"

namespace nahanni {

Status resolve_link(std::string_view property_name, const OptionValue& v, std::string_view target_type,
                    Object*& out) {
  NN_ASSIGN_OR_RETURN(std::string target, parse_string_value(property_name, v));
  if (target.empty()) {
    out = nullptr;
    return {};
  }
  Object* obj = target[0] == '/' ? resolve_path(target) : find_user_object(target);
  if (!obj) return Error(fmt::format("Device '{}' not found", target), Error::Class::DeviceNotFound);
  if (!obj->is_a(target_type))
    return Error::format("Invalid parameter type for '{}', expected: {}", property_name, target_type);
  out = obj;
  return {};
}

}  // namespace nahanni
