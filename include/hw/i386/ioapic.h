// The IOAPIC's 24 inputs as QOM object /machine/ioapic. Without KVM nothing consumes the
// lines; an accelerator with an in-kernel irqchip installs a sink; qtest intercepts them.
#pragma once

#include <functional>

#include "hw/core/irq.h"
#include "qom/object.h"

namespace nahanni {

class IoApic : public Object, public IrqInputs {
 public:
  static constexpr size_t kInputs = 24;
  IoApic() : IrqInputs(kInputs) {}
  void set_sink(std::function<void(size_t gsi, int level)> sink) { sink_ = std::move(sink); }

 protected:
  void deliver_irq(size_t n, int level) override {
    if (sink_) sink_(n, level);
  }

 private:
  std::function<void(size_t, int)> sink_;
};

}  // namespace nahanni
