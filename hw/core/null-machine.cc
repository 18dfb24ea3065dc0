// Machine "none": no RAM, no buses. libvirt and libqtest start it to probe capabilities.
#include "hw/core/machine.h"
#include "qom/type.h"

namespace nahanni {
namespace {

class NullMachine : public Machine {
 public:
  Status init(const MachineConfig& config) override {
    ram_size_ = config.ram_size;
    return {};
  }
};

const TypeRegistration kNoneType{TypeInfo{.name = "none-machine", .parent = std::string(kMachineType),
                                          .description = "empty machine", .factory = make_factory<NullMachine>(),
                                          .user_creatable = false}};
const MachineTypeRegistration kNone{MachineTypeInfo{.name = "none", .description = "empty machine"}};

}  // namespace
}  // namespace nahanni
