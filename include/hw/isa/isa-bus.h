// The ISA bus of the pc machine ("isa.0", behind PIIX3): legacy devices claim I/O port ranges
// and raise ISA IRQ lines. ISA IRQ n reaches IOAPIC input n, except IRQ 0 (the PIT) which is
// wired to input 2, as on every PC with an IOAPIC; with KVM's in-kernel irqchip the accelerator
// also drives the matching 8259 input (it sees the IOAPIC inputs, see hw/i386/ioapic.h).
#pragma once

#include <memory>
#include <vector>

#include "hw/core/bus.h"
#include "hw/core/irq.h"
#include "system/memory.h"

namespace nahanni {

class IsaBus : public Bus {
 public:
  static constexpr unsigned kIrqs = 16;
  IsaBus(std::string name, MemoryRegion* io, IrqInputs* irqs)
      : Bus(std::move(name), "ISA"), io_(io), irqs_(irqs) {}

  Status plug(Device& dev) override;
  void unplug(Device& dev) override;
  std::vector<Device*> devices() const override { return devices_; }

  // The I/O port space devices add their regions to.
  MemoryRegion& io() { return *io_; }
  // Drives ISA IRQ `irq` (0..15) to `level`.
  void set_irq(unsigned irq, int level);
  // The interrupt-controller input an ISA IRQ is wired to (IRQ 0 -> 2).
  static unsigned irq_to_gsi(unsigned irq) { return irq == 0 ? 2 : irq; }

 private:
  MemoryRegion* io_;
  IrqInputs* irqs_;
  std::vector<Device*> devices_;
};

// Base of ISA devices: the bus they sit on, set when plugged.
class IsaDevice : public Device {
 public:
  IsaBus* isa_bus() const;
};

}  // namespace nahanni
