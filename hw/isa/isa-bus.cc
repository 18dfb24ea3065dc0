#include "hw/isa/isa-bus.h"

#include <algorithm>

namespace nahanni {

Status IsaBus::plug(Device& dev) {
  if (!dynamic_cast<IsaDevice*>(&dev)) return Error::format("Device '{}' can't go on ISA bus", dev.type_name());
  devices_.push_back(&dev);
  return {};
}

void IsaBus::unplug(Device& dev) { std::erase(devices_, &dev); }

void IsaBus::set_irq(unsigned irq, int level) {
  if (irq < kIrqs && irqs_) irqs_->set_irq(irq_to_gsi(irq), level);
}

IsaBus* IsaDevice::isa_bus() const { return dynamic_cast<IsaBus*>(parent_bus()); }

}  // namespace nahanni
