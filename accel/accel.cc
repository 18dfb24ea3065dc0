#include "system/accel.h"

#include "qom/type.h"

namespace nahanni {

namespace {

const TypeRegistration kAccelBaseType{TypeInfo{
    .name = std::string(kAccelType),
    .parent = "object",
    .abstract = true,
    .description = "accelerator",
    .user_creatable = false,
}};

Accelerator* g_accel = nullptr;

}  // namespace

Accelerator* current_accel() { return g_accel; }
void set_current_accel(Accelerator* accel) { g_accel = accel; }

}  // namespace nahanni
