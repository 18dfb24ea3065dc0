// -device, device_add and device_del: creating user devices from options, listing them, and
// the unplug path that ends in DEVICE_DELETED.
#pragma once

#include <string>
#include <string_view>

#include "hw/core/device.h"
#include "util/keyval.h"

namespace nahanni {

// Creates, plugs and realizes a device; on error nothing is left behind.
Result<Device*> device_add(OptionList opts, OptionSource source, bool hotplug);
// device_del: asks the bus to start unplugging (the device goes when the guest ejects it).
Status device_del(std::string_view id_or_path);
// Unrealizes, unplugs and destroys a device, then emits DEVICE_DELETED.
void device_remove(Device& dev);
Device* find_device(std::string_view id_or_path);
// -global DRIVER.PROP=VALUE: a default applied to every new device of DRIVER (or a subtype),
// before the device's own properties.
Status qdev_add_global(std::string_view text);
// "-device help" and "-device TYPE,help".
std::string device_list_help();
Result<std::string> device_type_help(std::string_view type);

}  // namespace nahanni
