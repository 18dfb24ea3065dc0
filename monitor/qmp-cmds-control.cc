// Protocol-level commands: capabilities, versions, the command list, the target, and the small
// human-monitor bridge libqtest's qtest_hmp() uses.
#include <fmt/format.h>

#include "monitor/monitor.h"
#include "monitor/qmp.h"

namespace nahanni {
namespace {

using json = nlohmann::json;

// QMP capabilities QEMU defines; nahanni offers none of them (no out-of-band execution).
constexpr std::string_view kKnownCapabilities[] = {"oob"};

Result<json> qmp_capabilities(const json& args) {
  if (auto it = args.find("enable"); it != args.end()) {
    for (const json& cap : *it) {
      if (!cap.is_string()) return Error("Invalid parameter type for 'null', expected: string");
      const std::string name = cap.get<std::string>();
      bool known = false;
      for (std::string_view k : kKnownCapabilities) known = known || k == name;
      // QEMU's wording for a value outside the enum, parameter name included.
      if (!known) return Error::format("Parameter 'null' does not accept value '{}'", name);
      return Error::format("Capability {} not available", name);
    }
  }
  return json::object();
}

Result<json> query_version(const json&) { return qmp_version_info(); }

Result<json> query_commands(const json&) {
  json list = json::array();
  for (const std::string& name : QmpCommandTable::instance().names()) list.push_back(json{{"name", name}});
  return list;
}

Result<json> query_target(const json&) { return json{{"arch", "x86_64"}}; }

Result<json> query_name(const json&) { return json::object(); }

// Only what tests and tools ask for; other commands get QEMU's answer for an unknown one.
Result<json> human_monitor_command(const json& args) {
  std::string line = args["command-line"].get<std::string>();
  size_t first = line.find_first_not_of(" \t");
  if (first == std::string::npos) return json("");
  line = line.substr(first, line.find_last_not_of(" \t") - first + 1);
  if (line == "info version") {
    json v = qmp_version_info();
    return json(fmt::format("{}.{}.{}{}\r\n", kQmpVersionMajor, kQmpVersionMinor, kQmpVersionMicro,
                            v["package"].get<std::string>()));
  }
  std::string command = line.substr(0, line.find_first_of(" \t"));
  return json(fmt::format("unknown command: '{}'\r\n", command));
}

const QmpCommandRegistration kCapabilities{QmpCommand{
    .name = std::string(kQmpCapabilities), .args = {{"enable", QmpType::Array, true}}, .handler = qmp_capabilities}};
const QmpCommandRegistration kQueryVersion{QmpCommand{.name = "query-version", .handler = query_version}};
const QmpCommandRegistration kQueryCommands{QmpCommand{.name = "query-commands", .handler = query_commands}};
const QmpCommandRegistration kQueryTarget{QmpCommand{.name = "query-target", .handler = query_target}};
const QmpCommandRegistration kQueryName{QmpCommand{.name = "query-name", .handler = query_name}};
const QmpCommandRegistration kHmp{QmpCommand{
    .name = "human-monitor-command",
    .args = {{"command-line", QmpType::String}, {"cpu-index", QmpType::Int, true}},
    .handler = human_monitor_command}};

}  // namespace
}  // namespace nahanni
