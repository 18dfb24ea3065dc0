// A machine for the targets that drive the emulator's protocol layers (QMP, qtest): created
// once per process as vl does it (machine type, then the qtest accelerator, then the run-state
// hooks), with the shutdown and power-down paths made harmless, and a clean-up that removes
// whatever one input created (user objects, chardevs, devices) so inputs do not influence each
// other.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "accel/qtest-accel.h"
#include "chardev/char.h"
#include "hw/core/device.h"
#include "hw/core/machine.h"
#include "hw/core/qdev-monitor.h"
#include "qom/object.h"
#include "qom/type.h"
#include "system/main-loop.h"
#include "system/runstate.h"
#include "util/log.h"

namespace nahanni::fuzz {

inline Machine* start_machine(std::string_view type, uint64_t ram_size) {
  log::set_program_name("nahanni-system-x86_64");
  log::set_sink([](std::string_view) {});  // warnings about fuzz inputs are expected; keep quiet
  // The main loop's descriptors are created on first use (the first chardev): create them now,
  // so the per-input descriptor counts see only what an input leaves behind.
  (void)main_loop();
  const MachineTypeInfo* info = find_machine_type(type);
  if (!info) std::abort();
  auto* machine = static_cast<Machine*>(
      object_root().add_child("machine", TypeRegistry::instance().create(info->qom_type())));
  set_current_machine(machine);
  if (!machine->init(MachineConfig{.ram_size = ram_size}).ok()) std::abort();
  auto accel_obj = TypeRegistry::instance().create(std::string(kQtestAccelType));
  auto* accel = dynamic_cast<QtestAccel*>(accel_obj.get());
  if (!accel || !accel->init(*machine).ok()) std::abort();
  object_root().container("machine")->add_child("accel", std::move(accel_obj));
  set_current_accel(accel);
  install_runstate_hooks(*machine);
  // quit, system_powerdown and a guest's power-off would end the main loop or the process.
  set_shutdown_handler([](ShutdownCause) {});
  set_powerdown_handler([] {});
  machine->on_guest_poweroff = [] {};
  machine->on_guest_reset = [] {};
  machine->reset();
  if (!runstate_start(true).ok()) std::abort();
  return machine;
}

// Everything an input may have created, newest first, then a machine reset.
inline void remove_user_state(Machine& machine) {
  for (const char* container : {"peripheral", "peripheral-anon"}) {
    Object* parent = machine.child(container);
    if (!parent) continue;
    std::vector<std::string> names;
    for (const auto& [name, child] : parent->children()) names.push_back(name);
    for (auto it = names.rbegin(); it != names.rend(); ++it)
      if (auto* dev = dynamic_cast<Device*>(parent->child(*it))) device_remove(*dev);
  }
  std::vector<std::string> ids;
  for (const auto& [name, child] : objects_container().children()) ids.push_back(name);
  for (const auto& id : ids) (void)objects_container().remove_child(id);
  if (Object* chardevs = object_root().child("chardevs")) {
    ids.clear();
    for (const auto& [name, child] : chardevs->children()) ids.push_back(name);
    for (const auto& id : ids) (void)chardev_remove(id);
  }
  runstate_set(RunState::Running);
  machine.reset();
}

}  // namespace nahanni::fuzz
