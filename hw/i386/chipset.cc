// The configuration-only functions of the i440FX/PIIX chipset, at the addresses QEMU's pc
// machine gives them, so guests and test suites probing bus 0 find what they expect.
#include "hw/pci/pci-device.h"
#include "qom/type.h"

namespace nahanni {
namespace {

constexpr uint16_t kVendorIntel = 0x8086;

class ChipsetFunction : public PciDevice {
 protected:
  explicit ChipsetFunction(PciIdentity id) : id_(id) {}
  Status do_realize() override {
    NN_TRY(pci_realize());
    set_identity(id_);
    return {};
  }
  void do_unrealize() override { pci_unrealize(); }

 private:
  PciIdentity id_;
};

struct I440fxHost : ChipsetFunction {
  I440fxHost() : ChipsetFunction({.vendor = kVendorIntel, .device = 0x1237, .revision = 0x02, .class_code = 0x0600}) {}
};
struct Piix3Isa : ChipsetFunction {
  Piix3Isa() : ChipsetFunction({.vendor = kVendorIntel, .device = 0x7000, .class_code = 0x0601}) {}
};
struct Piix4Pm : ChipsetFunction {
  Piix4Pm() : ChipsetFunction({.vendor = kVendorIntel, .device = 0x7113, .revision = 0x03, .class_code = 0x0680}) {}
};

TypeInfo chipset_type(std::string name, std::string desc, std::function<std::unique_ptr<Object>()> factory) {
  return TypeInfo{.name = std::move(name), .parent = std::string(kPciDeviceType), .description = std::move(desc),
                  .factory = std::move(factory), .category = "Controller/Bridge/Hub devices", .bus_type = "PCI",
                  .user_creatable = false, .hotpluggable = false};
}

const TypeRegistration kHost{chipset_type("i440FX", "Host bridge", make_factory<I440fxHost>())};
const TypeRegistration kIsa{chipset_type("PIIX3", "ISA bridge", make_factory<Piix3Isa>())};
const TypeRegistration kPm{chipset_type("PIIX4_PM", "PM", make_factory<Piix4Pm>())};

}  // namespace
}  // namespace nahanni
