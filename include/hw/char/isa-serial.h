// isa-serial: a 16550A (hw/char/serial.h) at an ISA port range and IRQ, fed by a chardev.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "hw/char/serial.h"
#include "hw/isa/isa-bus.h"
#include "system/memory.h"

namespace nahanni {

class Chardev;

class IsaSerial : public IsaDevice {
 public:
  static constexpr uint32_t kMaxPorts = 4;
  IsaSerial();
  ~IsaSerial() override;
  void reset() override;
  uint32_t iobase() const { return iobase_; }
  uint32_t irq() const { return irq_; }

  std::string chardev_id_;
  uint32_t index_, iobase_, irq_;
  uint32_t baudbase_ = 115200;
  bool wakeup_ = false;

 protected:
  Status do_realize() override;
  void do_unrealize() override;

 private:
  // Guest accesses (vCPU threads) and chardev input (main loop) meet here.
  std::mutex mutex_;
  Serial16550 uart_;
  Chardev* chardev_ = nullptr;
  std::unique_ptr<MemoryRegion> region_;
};

}  // namespace nahanni
