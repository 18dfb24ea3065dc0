// The machine: RAM, address spaces, buses, and the reset and power paths. One per process.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "hw/core/bus.h"
#include "qom/object.h"

namespace nahanni {

class AddressSpace;

struct MachineConfig {
  uint64_t ram_size = 128ull << 20;
  std::string memory_backend;  // -machine memory-backend=ID
  std::string kernel;          // -kernel FILE: loaded by the machine (hw/i386/kernel-loader.h)
  std::string initrd;          // -initrd FILE
  std::string append;          // -append CMDLINE
  unsigned cpus = 1;           // -smp
};

class Machine : public Object {
 public:
  virtual Status init(const MachineConfig& config) = 0;
  virtual std::vector<Bus*> buses() { return {}; }
  Bus* find_bus(std::string_view name);
  Bus* default_bus(std::string_view type);
  // Resets every device (system_reset, guest reset).
  virtual void reset();
  // Guest physical memory and I/O ports; null on machines without them ("none").
  virtual AddressSpace* memory() { return nullptr; }
  virtual AddressSpace* io() { return nullptr; }
  uint64_t ram_size() const { return ram_size_; }
  // -smp: how many vCPUs the accelerator creates (qtest only records it).
  unsigned cpu_count() const { return cpu_count_; }

  // What the guest asks for (reset register, ACPI sleep, triple fault): the run-state layer
  // installs these; devices call them and never exit the process themselves.
  std::function<void()> on_guest_reset;
  std::function<void()> on_guest_poweroff;

 protected:
  uint64_t ram_size_ = 0;
  unsigned cpu_count_ = 1;
};

inline constexpr std::string_view kMachineType = "machine";

// Machine types answer to their name and aliases ("pc" is "pc-i440fx-7.2").
struct MachineTypeInfo {
  std::string name;        // QOM type is name + "-machine"
  std::string description;
  std::vector<std::string> aliases;
  bool is_default = false;
  // Also answers to any name with this prefix ("pc-i440fx-" covers every versioned pc name).
  std::string version_prefix;
  std::string qom_type() const { return name + "-machine"; }
};

void register_machine_type(MachineTypeInfo info);
// By name, alias or versioned name; nullptr when unknown.
const MachineTypeInfo* find_machine_type(std::string_view name);
const std::vector<MachineTypeInfo>& machine_types();
// "-machine help" text.
std::string machine_list_help();

struct MachineTypeRegistration {
  explicit MachineTypeRegistration(MachineTypeInfo info) { register_machine_type(std::move(info)); }
};

Machine* current_machine();
void set_current_machine(Machine* m);

}  // namespace nahanni
