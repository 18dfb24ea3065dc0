// What the machine and accelerators offer, as libvirt and libqtest probe it: query-machines,
// query-current-machine, query-cpu-definitions, query-kvm and query-command-line-options.
#include <fmt/format.h>
#include <unistd.h>

#include "hw/core/machine.h"
#include "monitor/qmp.h"
#include "accel/kvm/kvm-accel.h"
#include "qom/type.h"
#include "system/accel.h"

namespace nahanni {
namespace {

using json = nlohmann::json;

Result<json> query_machines(const json&) {
  json list = json::array();
  for (const MachineTypeInfo& m : machine_types()) {
    const bool has_ram = m.name != "none";
    json entry{{"name", m.name},
               {"hotpluggable-cpus", false},
               {"numa-mem-supported", false},
               {"cpu-max", 1},
               {"deprecated", false},
               {"default-ram-id", has_ram ? "pc.ram" : "ram"}};
    if (!m.aliases.empty()) entry["alias"] = m.aliases.front();
    if (m.is_default) entry["is-default"] = true;
    if (has_ram) entry["default-cpu-type"] = "qemu64-x86_64-cpu";
    list.push_back(std::move(entry));
  }
  return list;
}

Result<json> query_current_machine(const json&) { return json{{"wakeup-suspend-support", false}}; }

// nahanni has no CPU models of its own: KVM runs the host's CPU. These names keep libqtest's
// and libvirt's probes (which require "deprecated") satisfied.
Result<json> query_cpu_definitions(const json&) {
  json list = json::array();
  for (std::string_view name : {"host", "max", "qemu64"}) {
    list.push_back(json{{"name", name},
                        {"typename", fmt::format("{}-x86_64-cpu", name)},
                        {"unavailable-features", json::array()},
                        {"static", false},
                        {"migration-safe", name == "qemu64"},
                        {"deprecated", false}});
  }
  return list;
}

Result<json> query_kvm(const json&) {
  Accelerator* accel = current_accel();
  bool enabled = accel && accel->is_a("kvm-accel");
  // As QEMU: "present" means this binary has the KVM accelerator, not that /dev/kvm opens.
  bool present = TypeRegistry::instance().find(std::string(kKvmAccelType)) != nullptr;
  return json{{"enabled", enabled}, {"present", present}};
}

// Minimal: the option groups nahanni parses, without their parameter lists.
Result<json> query_command_line_options(const json& args) {
  static constexpr std::string_view kOptions[] = {"accel", "chardev", "device", "machine", "mon", "object", "qmp"};
  json list = json::array();
  std::string wanted = args.value("option", std::string());
  for (std::string_view name : kOptions) {
    if (!wanted.empty() && wanted != name) continue;
    list.push_back(json{{"parameters", json::array()}, {"option", name}});
  }
  if (!wanted.empty() && list.empty()) return Error::format("invalid option name: {}", wanted);
  return list;
}

const QmpCommandRegistration kQueryMachines{QmpCommand{.name = "query-machines", .handler = query_machines}};
const QmpCommandRegistration kQueryCurrentMachine{
    QmpCommand{.name = "query-current-machine", .handler = query_current_machine}};
const QmpCommandRegistration kQueryCpuDefinitions{
    QmpCommand{.name = "query-cpu-definitions", .handler = query_cpu_definitions}};
const QmpCommandRegistration kQueryKvm{QmpCommand{.name = "query-kvm", .handler = query_kvm}};
const QmpCommandRegistration kQueryCommandLineOptions{QmpCommand{
    .name = "query-command-line-options", .args = {{"option", QmpType::String, true}},
    .handler = query_command_line_options}};

}  // namespace
}  // namespace nahanni
