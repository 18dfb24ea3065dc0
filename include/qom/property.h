// Property definitions bound to data members, so a type's property table reads like a list of
// its settings. Each parses a user's value with QEMU's rules and messages (util/option-value.h).
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "qom/object.h"
#include "qom/type.h"
#include "util/option-value.h"

namespace nahanni {

namespace property_detail {
template <typename T>
T& self(Object& obj) {
  return static_cast<T&>(obj);
}
template <typename T>
const T& self(const Object& obj) {
  return static_cast<const T&>(obj);
}
}  // namespace property_detail

template <typename T>
PropertyInfo bool_property(std::string name, bool T::*member, std::string description,
                           std::optional<bool> def = std::nullopt) {
  return PropertyInfo{
      .name = std::move(name), .type = "bool", .description = std::move(description),
      .default_value = def ? std::optional<std::string>(*def ? "true" : "false") : std::nullopt,
      .set = [member](Object& o, std::string_view n, const OptionValue& v) -> Status {
        NN_ASSIGN_OR_RETURN(bool b, parse_bool_value(n, v));
        property_detail::self<T>(o).*member = b;
        return {};
      },
      .get = [member](const Object& o, nlohmann::json& out) { out = property_detail::self<T>(o).*member; }};
}

template <typename T, typename Int>
PropertyInfo uint_property(std::string name, Int T::*member, std::string description,
                           std::optional<Int> def = std::nullopt) {
  static_assert(std::is_unsigned_v<Int>);
  constexpr int bits = sizeof(Int) * 8;
  std::string type = "uint" + std::to_string(bits);
  return PropertyInfo{
      .name = std::move(name), .type = type, .description = std::move(description),
      .default_value = def ? std::optional<std::string>(std::to_string(*def)) : std::nullopt,
      .set = [member](Object& o, std::string_view n, const OptionValue& v) -> Status {
        NN_ASSIGN_OR_RETURN(uint64_t x, parse_uint_value(n, v, std::numeric_limits<Int>::max(),
                                                         "uint" + std::to_string(bits) + "_t"));
        property_detail::self<T>(o).*member = static_cast<Int>(x);
        return {};
      },
      .get = [member](const Object& o, nlohmann::json& out) { out = property_detail::self<T>(o).*member; }};
}

template <typename T>
PropertyInfo size_property(std::string name, uint64_t T::*member, std::string description,
                           std::optional<uint64_t> def = std::nullopt) {
  return PropertyInfo{
      .name = std::move(name), .type = "size", .description = std::move(description),
      .default_value = def ? std::optional<std::string>(std::to_string(*def)) : std::nullopt,
      .set = [member](Object& o, std::string_view n, const OptionValue& v) -> Status {
        NN_ASSIGN_OR_RETURN(uint64_t x, parse_size_value(n, v));
        property_detail::self<T>(o).*member = x;
        return {};
      },
      .get = [member](const Object& o, nlohmann::json& out) { out = property_detail::self<T>(o).*member; }};
}

template <typename T>
PropertyInfo string_property(std::string name, std::string T::*member, std::string description,
                             std::string type = "str") {
  return PropertyInfo{
      .name = std::move(name), .type = std::move(type), .description = std::move(description),
      .set = [member](Object& o, std::string_view n, const OptionValue& v) -> Status {
        NN_ASSIGN_OR_RETURN(std::string s, parse_string_value(n, v));
        property_detail::self<T>(o).*member = std::move(s);
        return {};
      },
      .get = [member](const Object& o, nlohmann::json& out) { out = property_detail::self<T>(o).*member; }};
}

template <typename T>
PropertyInfo on_off_auto_property(std::string name, OnOffAuto T::*member, std::string description,
                                  OnOffAuto def) {
  return PropertyInfo{
      .name = std::move(name), .type = "OnOffAuto", .description = std::move(description),
      .default_value = "\"" + std::string(to_string(def)) + "\"",
      .set = [member](Object& o, std::string_view n, const OptionValue& v) -> Status {
        NN_ASSIGN_OR_RETURN(OnOffAuto x, parse_on_off_auto_value(n, v));
        property_detail::self<T>(o).*member = x;
        return {};
      },
      .get = [member](const Object& o, nlohmann::json& out) {
        out = std::string(to_string(property_detail::self<T>(o).*member));
      }};
}

// A link to a user object (by id under /objects, or by path) of type `target_type`.
// The setter resolves it at once, as QEMU does: "Device 'nope' not found" when absent.
Status resolve_link(std::string_view property_name, const OptionValue& v, std::string_view target_type,
                    Object*& out);

template <typename T, typename Target>
PropertyInfo link_property(std::string name, Target* T::*member, std::string target_type,
                           std::string description = {}) {
  return PropertyInfo{
      .name = std::move(name), .type = "link<" + target_type + ">", .description = std::move(description),
      .set = [member, target_type](Object& o, std::string_view n, const OptionValue& v) -> Status {
        Object* target = nullptr;
        NN_TRY(resolve_link(n, v, target_type, target));
        property_detail::self<T>(o).*member = dynamic_cast<Target*>(target);
        return {};
      },
      .get = [member](const Object& o, nlohmann::json& out) {
        Target* t = property_detail::self<T>(o).*member;
        out = t ? nlohmann::json(static_cast<Object*>(t)->path()) : nlohmann::json("");
      }};
}

}  // namespace nahanni
