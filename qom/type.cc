#include "qom/type.h"

#include <fmt/format.h>

#include <algorithm>
#include <cassert>

namespace nahanni {

TypeRegistry& TypeRegistry::instance() {
  static TypeRegistry registry;
  return registry;
}

void TypeRegistry::add(TypeInfo info) {
  assert(!find(info.name) && "type registered twice");
  types_.push_back(std::make_unique<TypeInfo>(std::move(info)));
}

const TypeInfo* TypeRegistry::find(std::string_view name) const {
  for (const auto& t : types_)
    if (t->name == name) return t.get();
  return nullptr;
}

bool TypeRegistry::is_a(std::string_view type, std::string_view ancestor) const {
  for (const TypeInfo* t = find(type); t; t = t->parent.empty() ? nullptr : find(t->parent)) {
    if (t->name == ancestor) return true;
    if (std::find(t->interfaces.begin(), t->interfaces.end(), ancestor) != t->interfaces.end()) return true;
  }
  return false;
}

std::vector<const PropertyInfo*> TypeRegistry::properties_of(std::string_view type) const {
  std::vector<const TypeInfo*> chain;
  for (const TypeInfo* t = find(type); t; t = t->parent.empty() ? nullptr : find(t->parent)) chain.push_back(t);
  std::vector<const PropertyInfo*> out;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    for (const PropertyInfo& p : (*it)->properties) {
      auto same = std::find_if(out.begin(), out.end(), [&](const PropertyInfo* q) { return q->name == p.name; });
      if (same != out.end()) *same = &p;
      else out.push_back(&p);
    }
  }
  return out;
}

const PropertyInfo* TypeRegistry::find_property(std::string_view type, std::string_view name) const {
  // The most derived definition wins.
  for (const TypeInfo* t = find(type); t; t = t->parent.empty() ? nullptr : find(t->parent))
    for (const PropertyInfo& p : t->properties)
      if (p.name == name) return &p;
  return nullptr;
}

std::vector<const TypeInfo*> TypeRegistry::list(std::string_view implements, bool include_abstract) const {
  std::vector<const TypeInfo*> out;
  for (const auto& t : types_) {
    if (t->abstract && !include_abstract) continue;
    if (!implements.empty() && !is_a(t->name, implements)) continue;
    out.push_back(t.get());
  }
  std::sort(out.begin(), out.end(), [](const TypeInfo* a, const TypeInfo* b) { return a->name < b->name; });
  return out;
}

std::unique_ptr<Object> TypeRegistry::create(std::string_view name) const {
  const TypeInfo* t = find(name);
  if (!t || t->abstract || !t->factory) return nullptr;
  std::unique_ptr<Object> obj = t->factory();
  obj->type_ = t;
  return obj;
}

std::string format_property_help(std::string_view type_name, std::string_view heading) {
  auto props = TypeRegistry::instance().properties_of(type_name);
  std::sort(props.begin(), props.end(), [](auto* a, auto* b) { return a->name < b->name; });
  if (props.empty()) return fmt::format("There are no options for {}.\n", type_name);
  std::string out = fmt::format("{}:\n", heading);
  for (const PropertyInfo* p : props) {
    std::string head = fmt::format("{}=<{}>", p->name, p->type);
    if (p->description.empty() && !p->default_value) {
      out += fmt::format("  {}\n", head);
      continue;
    }
    out += fmt::format("  {:<22} - {}", head, p->description);
    if (p->default_value) out += fmt::format(" (default: {})", *p->default_value);
    out += '\n';
  }
  return out;
}

}  // namespace nahanni
