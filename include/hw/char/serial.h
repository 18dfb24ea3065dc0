// The 8250/16550A UART's register model, independent of bus and backend: what the guest sees at
// its eight ports, a 16-byte receive FIFO, and the interrupt line it drives. Transmission is
// instantaneous (THR empties at once), so there is no transmit FIFO to model; bytes arriving
// faster than the guest reads wait in a host-side backlog instead of overrunning, because a
// chardev cannot be paused the way QEMU's can_receive does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <span>

namespace nahanni {

namespace uart {
// Register offsets (DLAB=0 / DLAB=1).
inline constexpr unsigned kRbrThrDll = 0, kIerDlm = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;
inline constexpr uint8_t kIerRda = 0x01, kIerThre = 0x02, kIerLsi = 0x04, kIerMsi = 0x08;
inline constexpr uint8_t kIirNoInt = 0x01, kIirMsi = 0x00, kIirThre = 0x02, kIirRda = 0x04, kIirLsi = 0x06,
                         kIirTimeout = 0x0c, kIirFifoEnabled = 0xc0;
inline constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02, kFcrClearTx = 0x04;
inline constexpr uint8_t kLcrDlab = 0x80;
inline constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
inline constexpr uint8_t kLsrDr = 0x01, kLsrOe = 0x02, kLsrPe = 0x04, kLsrFe = 0x08, kLsrBi = 0x10, kLsrThre = 0x20,
                         kLsrTemt = 0x40, kLsrFifoError = 0x80;
inline constexpr uint8_t kMsrDcts = 0x01, kMsrDdsr = 0x02, kMsrTeri = 0x04, kMsrDdcd = 0x08, kMsrCts = 0x10,
                         kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
inline constexpr size_t kFifoSize = 16;
inline constexpr size_t kBacklogLimit = 64 * 1024;
}  // namespace uart

class Serial16550 {
 public:
  struct Hooks {
    std::function<void(uint8_t byte)> transmit;  // a byte leaves through THR (not in loopback)
    std::function<void(int level)> set_irq;      // the interrupt output changed
  };
  explicit Serial16550(Hooks hooks) : hooks_(std::move(hooks)) { reset(); }

  uint8_t read(unsigned reg);
  void write(unsigned reg, uint8_t value);
  // Bytes from the backend (the chardev).
  void receive(std::span<const uint8_t> bytes);
  void reset();

  int irq_level() const { return irq_level_; }
  uint16_t divisor() const { return divisor_; }
  size_t pending_input() const { return rx_.size() + backlog_.size(); }

 private:
  bool fifo_enabled() const { return fcr_ & uart::kFcrEnable; }
  size_t rx_capacity() const { return fifo_enabled() ? uart::kFifoSize : 1; }
  size_t trigger_level() const;
  void push_received(uint8_t byte);
  void refill_from_backlog();
  uint8_t current_iir() const;
  void update_irq();
  void set_mcr(uint8_t value);

  Hooks hooks_;
  uint16_t divisor_ = 12;
  uint8_t ier_ = 0, lcr_ = 0, mcr_ = 0, lsr_ = 0, msr_ = 0, scr_ = 0, fcr_ = 0;
  bool thr_interrupt_pending_ = false;
  std::deque<uint8_t> rx_;       // what the guest sees (at most rx_capacity())
  std::deque<uint8_t> backlog_;  // received, waiting for room in rx_
  int irq_level_ = 0;
};

}  // namespace nahanni
