#include "hw/core/machine.h"

#include "qom/type.h"

namespace nahanni {

namespace {
Machine* g_machine = nullptr;
const TypeRegistration kMachineTypeReg{TypeInfo{
    .name = std::string(kMachineType), .parent = "object", .abstract = true, .user_creatable = false}};
}  // namespace

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
