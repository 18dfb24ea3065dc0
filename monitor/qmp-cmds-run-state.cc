// Run state commands: query-status, cont, stop, system_reset, system_powerdown and quit.
#include "monitor/qmp.h"
#include "system/runstate.h"

namespace nahanni {
namespace {

using json = nlohmann::json;

Result<json> query_status(const json&) {
  // "singlestep" is in QEMU 7.2's reply (the version nahanni reports); always false here.
  return json{{"status", runstate_name(runstate_get())}, {"singlestep", false}, {"running", runstate_is_running()}};
}

Result<json> cont(const json&) {
  NN_TRY(vm_start());
  return json::object();
}

Result<json> stop(const json&) {
  vm_stop(RunState::Paused);
  return json::object();
}

Result<json> system_reset(const json&) {
  request_reset(ShutdownCause::HostQmpSystemReset);
  return json::object();
}

Result<json> system_powerdown(const json&) {
  request_powerdown();
  return json::object();
}

// SHUTDOWN goes out before the reply, as on QEMU; the main loop ends once the reply is written.
Result<json> quit(const json&) {
  request_shutdown(ShutdownCause::HostQmpQuit);
  return json::object();
}

const QmpCommandRegistration kQueryStatus{QmpCommand{.name = "query-status", .handler = query_status}};
const QmpCommandRegistration kCont{QmpCommand{.name = "cont", .handler = cont}};
const QmpCommandRegistration kStop{QmpCommand{.name = "stop", .handler = stop}};
const QmpCommandRegistration kSystemReset{QmpCommand{.name = "system_reset", .handler = system_reset}};
const QmpCommandRegistration kSystemPowerdown{QmpCommand{.name = "system_powerdown", .handler = system_powerdown}};
const QmpCommandRegistration kQuit{QmpCommand{.name = "quit", .handler = quit}};

}  // namespace
}  // namespace nahanni
