#include "hw/core/machine.h"

#include <fmt/format.h>

#include "qom/type.h"

namespace nahanni {

namespace {
Machine* g_machine = nullptr;
const TypeRegistration kMachineTypeReg{TypeInfo{
    .name = std::string(kMachineType), .parent = "object", .abstract = true, .user_creatable = false}};
}  // namespace

std::vector<MachineTypeInfo>& machine_type_list() {
  static std::vector<MachineTypeInfo> list;
  return list;
}

void register_machine_type(MachineTypeInfo info) { machine_type_list().push_back(std::move(info)); }
const std::vector<MachineTypeInfo>& machine_types() { return machine_type_list(); }

const MachineTypeInfo* find_machine_type(std::string_view name) {
  for (const MachineTypeInfo& m : machine_type_list()) {
    if (m.name == name) return &m;
    for (const std::string& a : m.aliases)
      if (a == name) return &m;
    if (!m.version_prefix.empty() && name.size() > m.version_prefix.size() && name.starts_with(m.version_prefix))
      return &m;
  }
  return nullptr;
}

std::string machine_list_help() {
  std::string out = "Supported machines are:\n";
  for (const MachineTypeInfo& m : machine_type_list()) {
    for (const std::string& a : m.aliases) out += fmt::format("{:<20} {} (alias of {})\n", a, m.description, m.name);
    out += fmt::format("{:<20} {}{}\n", m.name, m.description, m.is_default ? " (default)" : "");
  }
  return out;
}

Machine* current_machine() { return g_machine; }
void set_current_machine(Machine* m) { g_machine = m; }

Bus* Machine::find_bus(std::string_view name) {
  for (Bus* b : buses())
    if (b->name() == name) return b;
  return nullptr;
}

Bus* Machine::default_bus(std::string_view type) {
  for (Bus* b : buses())
    if (b->type() == type) return b;
  return nullptr;
}

void Machine::reset() {
  for (Bus* b : buses())
    for (Device* d : b->devices()) d->reset();
}

}  // namespace nahanni
