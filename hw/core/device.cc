#include "hw/core/device.h"

#include "qom/type.h"

namespace nahanni {

namespace {
const TypeRegistration kDeviceTypeReg{TypeInfo{
    .name = std::string(kDeviceType), .parent = "object", .abstract = true, .user_creatable = false}};
}

Status Device::realize() {
  if (realized_) return {};
  NN_TRY(do_realize());
  realized_ = true;
  return {};
}

void Device::unrealize() {
  if (!realized_) return;
  do_unrealize();
  realized_ = false;
}

std::optional<Error> Device::property_change_refused(std::string_view name) const {
  if (!realized_) return std::nullopt;
  if (id_.empty())
    return Error::format("Attempt to set property '{}' on anonymous device (type '{}') after it was realized", name,
                         type_name());
  return Error::format("Attempt to set property '{}' on device '{}' (type '{}') after it was realized", name, id_,
                       type_name());
}

}  // namespace nahanni
