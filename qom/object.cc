#include "qom/object.h"

#include <nlohmann/json.hpp>

#include "qom/type.h"

namespace nahanni {

namespace {

class Container : public Object {};

const TypeRegistration kObjectType{TypeInfo{.name = "object", .abstract = true, .user_creatable = false}};
const TypeRegistration kContainerType{TypeInfo{
    .name = "container", .parent = "object", .factory = make_factory<Container>(), .user_creatable = false}};

std::unique_ptr<Object> new_container() {
  auto c = TypeRegistry::instance().create("container");
  return c;
}

void find_by_name(Object& node, std::string_view name, std::vector<Object*>& found) {
  for (auto& [child_name, child] : node.children()) {
    if (child_name == name) found.push_back(child.get());
    find_by_name(*child, name, found);
  }
}

}  // namespace

Object::~Object() = default;

const std::string& Object::type_name() const { return type_->name; }

bool Object::is_a(std::string_view t) const { return TypeRegistry::instance().is_a(type_->name, t); }

std::string Object::path() const {
  if (!parent_) return "/";
  std::string p = parent_->path();
  if (p != "/") p += '/';
  return p + name_;
}

Object* Object::add_child(std::string name, std::unique_ptr<Object> child) {
  child->name_ = name;
  child->parent_ = this;
  auto [it, inserted] = children_.emplace(std::move(name), std::move(child));
  return inserted ? it->second.get() : nullptr;
}

std::unique_ptr<Object> Object::remove_child(std::string_view name) {
  auto it = children_.find(name);
  if (it == children_.end()) return nullptr;
  std::unique_ptr<Object> child = std::move(it->second);
  children_.erase(it);
  child->parent_ = nullptr;
  return child;
}

Object* Object::child(std::string_view name) const {
  auto it = children_.find(name);
  return it == children_.end() ? nullptr : it->second.get();
}

Object* Object::container(std::string_view name) {
  if (Object* c = child(name)) return c;
  return add_child(std::string(name), new_container());
}

const PropertyInfo* Object::find_property(std::string_view name) const {
  return TypeRegistry::instance().find_property(type_->name, name);
}

Status Object::set_property(std::string_view name, const OptionValue& value) {
  const PropertyInfo* prop = find_property(name);
  if (!prop || !prop->set) return Error::format("Property '{}.{}' not found", type_->name, name);
  if (auto refused = property_change_refused(name)) return std::move(*refused);
  return prop->set(*this, name, value);
}

Result<nlohmann::json> Object::get_property(std::string_view name) const {
  if (name == "type") return nlohmann::json(type_->name);
  const PropertyInfo* prop = find_property(name);
  if (!prop || !prop->get) return Error::format("Property '{}.{}' not found", type_->name, name);
  nlohmann::json out;
  prop->get(*this, out);
  return out;
}

Object& object_root() {
  static std::unique_ptr<Object> root = new_container();
  return *root;
}

Object& objects_container() { return *object_root().container("objects"); }

Object* resolve_path(std::string_view path) {
  if (path.empty()) return nullptr;
  if (path[0] == '/') {
    Object* node = &object_root();
    size_t pos = 1;
    while (node && pos < path.size()) {
      size_t end = path.find('/', pos);
      if (end == std::string_view::npos) end = path.size();
      std::string_view part = path.substr(pos, end - pos);
      if (!part.empty()) node = node->child(part);
      pos = end + 1;
    }
    return node;
  }
  // A partial path matches when exactly one object in the tree has that name.
  std::vector<Object*> found;
  find_by_name(object_root(), path, found);
  return found.size() == 1 ? found[0] : nullptr;
}

Object* find_user_object(std::string_view id) { return objects_container().child(id); }

}  // namespace nahanni
