// chardev-add and chardev-remove. QMP's nested backend description
// ({"type": "socket", "data": {"addr": {"type": "unix", "data": {"path": P}}, "server": false}})
// is flattened by the chardev layer into the -chardev option form, so both share one path.
#include "chardev/char.h"
#include "monitor/qmp.h"

namespace nahanni {
namespace {

using json = nlohmann::json;

Result<json> chardev_add_cmd(const json& args) {
  NN_ASSIGN_OR_RETURN(OptionList opts, chardev_options_from_qmp(args));
  NN_TRY(chardev_add(std::move(opts), OptionSource::Qmp));
  return json::object();
}

Result<json> chardev_remove_cmd(const json& args) {
  NN_TRY(chardev_remove(args["id"].get<std::string>()));
  return json::object();
}

const QmpCommandRegistration kChardevAdd{QmpCommand{
    .name = "chardev-add", .args = {{"id", QmpType::String}, {"backend", QmpType::Object}}, .handler = chardev_add_cmd}};
const QmpCommandRegistration kChardevRemove{
    QmpCommand{.name = "chardev-remove", .args = {{"id", QmpType::String}}, .handler = chardev_remove_cmd}};

}  // namespace
}  // namespace nahanni
