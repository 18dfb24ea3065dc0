// -object and object-add/object-del: user-created objects living under /objects.
#pragma once

#include <string>
#include <string_view>

#include "qom/object.h"
#include "util/keyval.h"

namespace nahanni {

inline constexpr std::string_view kUserCreatable = "user-creatable";

// Creates, configures, completes and adds the object; nothing is left behind on error.
Result<Object*> user_creatable_add(OptionList opts, OptionSource source);
Status user_creatable_del(std::string_view id);
// "-object help" text.
std::string user_creatable_list_help();

}  // namespace nahanni
