// Interrupt lines. A device with numbered inputs (the IOAPIC) mixes in IrqInputs; devices drive
// a line's level, the controller delivers it (to KVM, for instance), and a qtest session can
// intercept the inputs to observe level changes instead ("irq_intercept_in ioapic").
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

namespace nahanni {

class IrqInputs {
 public:
  explicit IrqInputs(size_t count) : levels_(count, 0) {}
  virtual ~IrqInputs() = default;

  size_t irq_count() const { return levels_.size(); }
  int irq_level(size_t n) const { return n < levels_.size() ? levels_[n] : 0; }
  // Drives input `n` to `level` (0 or 1). Out-of-range lines are ignored.
  void set_irq(size_t n, int level);
  // While intercepted, inputs go to `observer` instead of being delivered.
  void intercept(std::function<void(size_t n, int level)> observer) { interceptor_ = std::move(observer); }
  bool intercepted() const { return static_cast<bool>(interceptor_); }

 protected:
  virtual void deliver_irq(size_t n, int level) {
    (void)n;
    (void)level;
  }

 private:
  std::vector<int> levels_;
  std::function<void(size_t, int)> interceptor_;
};

inline void IrqInputs::set_irq(size_t n, int level) {
  if (n >= levels_.size()) return;
  levels_[n] = level;
  if (interceptor_) interceptor_(n, level);
  else deliver_irq(n, level);
}

}  // namespace nahanni
