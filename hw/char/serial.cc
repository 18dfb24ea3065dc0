#include "hw/char/serial.h"

namespace nahanni {

using namespace uart;

namespace {
constexpr uint8_t kLsrErrors = kLsrOe | kLsrPe | kLsrFe | kLsrBi;
constexpr uint8_t kMsrDeltas = kMsrDcts | kMsrDdsr | kMsrTeri | kMsrDdcd;
// Without modem-line support in the backend the lines read as a ready modem (as QEMU reports).
constexpr uint8_t kMsrIdle = kMsrCts | kMsrDsr | kMsrDcd;

// Loopback wires the modem-control outputs back to the status inputs.
uint8_t loopback_status(uint8_t mcr) {
  uint8_t msr = 0;
  if (mcr & kMcrRts) msr |= kMsrCts;
  if (mcr & kMcrDtr) msr |= kMsrDsr;
  if (mcr & kMcrOut1) msr |= kMsrRi;
  if (mcr & kMcrOut2) msr |= kMsrDcd;
  return msr;
}
}  // namespace

void Serial16550::reset() {
  divisor_ = 12;  // 9600 baud from the 1.8432 MHz clock
  ier_ = lcr_ = scr_ = fcr_ = 0;
  mcr_ = kMcrOut2;
  lsr_ = 0;
  msr_ = kMsrIdle;
  thr_interrupt_pending_ = false;
  rx_.clear();
  backlog_.clear();
  irq_level_ = 0;
  if (hooks_.set_irq) hooks_.set_irq(0);
}

size_t Serial16550::trigger_level() const {
  static constexpr size_t kLevels[4] = {1, 4, 8, 14};
  return kLevels[fcr_ >> 6];
}

void Serial16550::push_received(uint8_t byte) {
  if (rx_.size() < rx_capacity()) rx_.push_back(byte);
  else lsr_ |= kLsrOe;  // the guest did not keep up: the byte is lost, as on hardware
}

void Serial16550::refill_from_backlog() {
  if (mcr_ & kMcrLoop) return;  // loopback disconnects the serial input
  while (rx_.size() < rx_capacity() && !backlog_.empty()) {
    rx_.push_back(backlog_.front());
    backlog_.pop_front();
  }
}

uint8_t Serial16550::current_iir() const {
  if ((ier_ & kIerLsi) && (lsr_ & kLsrErrors)) return kIirLsi;
  if ((ier_ & kIerRda) && !rx_.empty())
    // Below the trigger level a real FIFO reports a character timeout after four character
    // times; with no clock to count them, it is reported at once.
    return fifo_enabled() && rx_.size() < trigger_level() ? kIirTimeout : kIirRda;
  if ((ier_ & kIerThre) && thr_interrupt_pending_) return kIirThre;
  if ((ier_ & kIerMsi) && (msr_ & kMsrDeltas)) return kIirMsi;
  return kIirNoInt;
}

void Serial16550::update_irq() {
  int level = current_iir() != kIirNoInt;
  if (level == irq_level_) return;
  irq_level_ = level;
  if (hooks_.set_irq) hooks_.set_irq(level);
}

void Serial16550::set_mcr(uint8_t value) {
  mcr_ = value & 0x1f;
  uint8_t status = (mcr_ & kMcrLoop) ? loopback_status(mcr_) : kMsrIdle;
  uint8_t changed = (msr_ ^ status) & 0xf0;
  uint8_t deltas = 0;
  if (changed & kMsrCts) deltas |= kMsrDcts;
  if (changed & kMsrDsr) deltas |= kMsrDdsr;
  if ((changed & kMsrRi) && !(status & kMsrRi)) deltas |= kMsrTeri;  // trailing edge only
  if (changed & kMsrDcd) deltas |= kMsrDdcd;
  msr_ = status | (msr_ & kMsrDeltas) | deltas;
  refill_from_backlog();
}

uint8_t Serial16550::read(unsigned reg) {
  uint8_t out = 0;
  switch (reg & 7) {
    case kRbrThrDll:
      if (lcr_ & kLcrDlab) return divisor_ & 0xff;
      if (!rx_.empty()) {
        out = rx_.front();
        rx_.pop_front();
        refill_from_backlog();
      }
      break;
    case kIerDlm:
      return (lcr_ & kLcrDlab) ? divisor_ >> 8 : ier_;
    case kIirFcr:
      out = current_iir();
      if (out == kIirThre) thr_interrupt_pending_ = false;  // reading IIR acknowledges THRE
      if (fifo_enabled()) out |= kIirFifoEnabled;
      break;
    case kLcr:
      return lcr_;
    case kMcr:
      return mcr_;
    case kLsr:
      // Transmission is instantaneous, so the holding and shift registers are always empty.
      out = lsr_ | kLsrThre | kLsrTemt | (rx_.empty() ? 0 : kLsrDr);
      lsr_ &= ~kLsrErrors;
      break;
    case kMsr:
      out = msr_;
      msr_ &= ~kMsrDeltas;
      break;
    case kScr:
      return scr_;
  }
  update_irq();
  return out;
}

void Serial16550::write(unsigned reg, uint8_t value) {
  switch (reg & 7) {
    case kRbrThrDll:
      if (lcr_ & kLcrDlab) {
        divisor_ = (divisor_ & 0xff00) | value;
        return;
      }
      if (mcr_ & kMcrLoop) push_received(value);
      else if (hooks_.transmit) hooks_.transmit(value);
      thr_interrupt_pending_ = true;  // sent at once: THR is empty again
      break;
    case kIerDlm:
      if (lcr_ & kLcrDlab) {
        divisor_ = static_cast<uint16_t>((divisor_ & 0x00ff) | (value << 8));
        return;
      }
      // Enabling the THRE interrupt while THR is empty raises it at once (8250 behaviour
      // drivers probe for).
      if ((value & kIerThre) && !(ier_ & kIerThre)) thr_interrupt_pending_ = true;
      ier_ = value & 0x0f;
      break;
    case kIirFcr:
      if ((value ^ fcr_) & kFcrEnable) rx_.clear();  // switching FIFO mode empties the FIFOs
      if (value & kFcrClearRx) rx_.clear();
      fcr_ = value & 0xc9;
      refill_from_backlog();
      break;
    case kLcr:
      lcr_ = value;
      return;
    case kMcr:
      set_mcr(value);
      break;
    case kLsr:
    case kMsr:
      return;  // read-only
    case kScr:
      scr_ = value;
      return;
  }
  update_irq();
}

void Serial16550::receive(std::span<const uint8_t> bytes) {
  for (uint8_t b : bytes) {
    if (backlog_.size() >= kBacklogLimit) {
      lsr_ |= kLsrOe;
      break;
    }
    backlog_.push_back(b);
  }
  refill_from_backlog();
  update_irq();
}

}  // namespace nahanni
