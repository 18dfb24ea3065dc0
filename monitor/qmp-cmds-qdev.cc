// device_add and device_del. device_del only starts the unplug: on pc the guest (or a test)
// ejects the slot through the ACPI hotplug registers, and DEVICE_DELETED follows.
#include "hw/core/qdev-monitor.h"
#include "monitor/qmp-options.h"
#include "monitor/qmp.h"

namespace nahanni {
namespace {

using json = nlohmann::json;

Result<json> qmp_device_add(const json& args) {
  NN_TRY(device_add(option_list_from_qmp(args), OptionSource::Qmp, /*hotplug=*/true));
  return json::object();
}

Result<json> qmp_device_del(const json& args) {
  NN_TRY(device_del(args["id"].get<std::string>()));
  return json::object();
}

// Every member besides these is a device property.
const QmpCommandRegistration kDeviceAdd{QmpCommand{
    .name = "device_add",
    .args = {{"driver", QmpType::String}, {"bus", QmpType::String, true}, {"id", QmpType::String, true}},
    .handler = qmp_device_add,
    .extra_args = true}};
const QmpCommandRegistration kDeviceDel{
    QmpCommand{.name = "device_del", .args = {{"id", QmpType::String}}, .handler = qmp_device_del}};

}  // namespace
}  // namespace nahanni
