// The object model: every configurable thing (memory backend, chardev, device, machine) is an
// Object of a registered type, with typed properties and a place in one composition tree
// ("/objects/mb1", "/machine/peripheral/iv1"). Types register themselves at start-up (type.h).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/option-value.h"

namespace nahanni {

class Object;
struct TypeInfo;

// One property of a type. `type` is the name QEMU shows ("bool", "uint32", "size", "str",
// "OnOffAuto", "link<memory-backend>"); `default_value` is the JSON text help prints.
struct PropertyInfo {
  std::string name;
  std::string type;
  std::string description;
  std::optional<std::string> default_value;
  std::function<Status(Object&, std::string_view name, const OptionValue&)> set;
  std::function<void(const Object&, nlohmann::json& out)> get;
  bool read_only = false;
  // -object/object-add refuse to create the object without it ("Parameter 'size' is missing").
  bool required = false;
};

class Object {
 public:
  Object() = default;
  virtual ~Object();
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  const TypeInfo& type() const { return *type_; }
  const std::string& type_name() const;
  bool is_a(std::string_view type_or_interface) const;

  // Name in the composition tree (the id for user objects and devices).
  const std::string& name() const { return name_; }
  Object* parent() const { return parent_; }
  std::string path() const;

  // Children, owned.
  Object* add_child(std::string name, std::unique_ptr<Object> child);
  std::unique_ptr<Object> remove_child(std::string_view name);
  Object* child(std::string_view name) const;
  const std::map<std::string, std::unique_ptr<Object>, std::less<>>& children() const { return children_; }
  // A container child, created on first use.
  Object* container(std::string_view name);

  // Properties, by name, as typed by a user. Unknown names yield "Property 'TYPE.NAME' not found".
  Status set_property(std::string_view name, const OptionValue& value);
  Result<nlohmann::json> get_property(std::string_view name) const;
  const PropertyInfo* find_property(std::string_view name) const;

  // Called after all properties of a user-created object are set (-object, object-add).
  virtual Status complete() { return {}; }
  // object-del refuses while this returns false (e.g. a backend mapped by a device).
  virtual bool can_be_deleted() const { return true; }
  // Extra links/children shown by qom-list besides the type's properties: name -> QOM type text.
  virtual void list_dynamic_properties(std::vector<std::pair<std::string, std::string>>& out) const { (void)out; }
  // Properties may be refused once an object is live (a realized device).
  virtual std::optional<Error> property_change_refused(std::string_view name) const {
    (void)name;
    return std::nullopt;
  }

 private:
  friend class TypeRegistry;
  const TypeInfo* type_ = nullptr;
  std::string name_;
  Object* parent_ = nullptr;
  std::map<std::string, std::unique_ptr<Object>, std::less<>> children_;
};

// The root of the composition tree, and the well-known containers below it.
Object& object_root();
Object& objects_container();  // "/objects": -object and object-add
// Resolves an absolute path ("/objects/mb1") or a partial one ("ioapic", unique match in the tree).
Object* resolve_path(std::string_view path);
// Finds a user object by id under /objects.
Object* find_user_object(std::string_view id);

template <typename T>
T* object_cast(Object* obj) {
  return dynamic_cast<T*>(obj);
}

}  // namespace nahanni
