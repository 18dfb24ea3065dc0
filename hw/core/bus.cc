#include "hw/core/bus.h"

namespace nahanni {

Status Bus::request_unplug(Device&) { return Error::format("Bus '{}' does not support hotplugging", name_); }

}  // namespace nahanni
