// The type registry: a type has a name, a parent, interfaces, a factory and its own properties
// (inherited ones come from its ancestors). Each type file registers itself statically:
//
//   static const TypeRegistration kRam{TypeInfo{
//       .name = "memory-backend-ram", .parent = "memory-backend",
//       .factory = make_factory<MemoryBackendRam>()}};
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "qom/object.h"

namespace nahanni {

struct TypeInfo {
  std::string name;
  std::string parent;  // empty for the root type "object"
  bool abstract = false;
  std::vector<std::string> interfaces;
  std::string description;
  std::function<std::unique_ptr<Object>()> factory;
  std::vector<PropertyInfo> properties;
  // Devices: the help category ("Misc devices"), the bus they plug into ("PCI", "System").
  std::string category;
  std::string bus_type;
  bool user_creatable = true;
  bool hotpluggable = true;
};

class TypeRegistry {
 public:
  static TypeRegistry& instance();

  void add(TypeInfo info);
  const TypeInfo* find(std::string_view name) const;
  // True when `type` is `ancestor`, derives from it, or implements it as an interface.
  bool is_a(std::string_view type, std::string_view ancestor) const;
  // All properties of a type, the root ancestor's first; a later definition of a name wins.
  std::vector<const PropertyInfo*> properties_of(std::string_view type) const;
  const PropertyInfo* find_property(std::string_view type, std::string_view name) const;
  // Types that are (or implement) `implements` (all types when empty), sorted by name.
  std::vector<const TypeInfo*> list(std::string_view implements, bool include_abstract) const;
  // A new instance, or nullptr for unknown or abstract types.
  std::unique_ptr<Object> create(std::string_view name) const;

 private:
  std::vector<std::unique_ptr<TypeInfo>> types_;
};

struct TypeRegistration {
  explicit TypeRegistration(TypeInfo info) { TypeRegistry::instance().add(std::move(info)); }
};

template <typename T>
std::function<std::unique_ptr<Object>()> make_factory() {
  return [] { return std::make_unique<T>(); };
}

// "  name=<type>   - description (default: X)" lines, sorted, as QEMU's ",help" prints them.
std::string format_property_help(std::string_view type_name, std::string_view heading);

}  // namespace nahanni
