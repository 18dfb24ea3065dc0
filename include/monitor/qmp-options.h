// QMP arguments as options: commands that take a flat set of properties (device_add, object-add,
// chardev-add after flattening) hand them to the same code as -device/-object/-chardev, with
// each value keeping its JSON type so messages name types as QEMU's QMP path does.
#pragma once

#include <nlohmann/json.hpp>

#include "util/keyval.h"
#include "util/option-value.h"

namespace nahanni {

// Every member of `args` (a JSON object), in the object's order.
OptionList option_list_from_qmp(const nlohmann::json& args);

}  // namespace nahanni
