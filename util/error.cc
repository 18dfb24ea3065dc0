#include "util/error.h"

namespace nahanni {

std::string_view error_class_name(Error::Class cls) {
  switch (cls) {
    case Error::Class::Generic: return "GenericError";
    case Error::Class::CommandNotFound: return "CommandNotFound";
    case Error::Class::DeviceNotActive: return "DeviceNotActive";
    case Error::Class::DeviceNotFound: return "DeviceNotFound";
    case Error::Class::KVMMissingCap: return "KVMMissingCap";
  }
  return "GenericError";
}

}  // namespace nahanni
