// QEMU_CLOCK_VIRTUAL as the qtest accelerator drives it: guest time in nanoseconds that moves only
// when a test says so (clock_step, clock_set). Devices arm timers against it; a timer's callback
// runs when the clock reaches its deadline, with now_ns() equal to that deadline, in deadline order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>

namespace nahanni {

class VirtualClock {
 public:
  // A pending timer; dropping the handle cancels it (also from inside its own callback).
  class Timer {
   public:
    Timer() = default;
    Timer(Timer&& o) noexcept : clock_(std::exchange(o.clock_, nullptr)), id_(o.id_) {}
    Timer& operator=(Timer&& o) noexcept {
      if (this != &o) {
        cancel();
        clock_ = std::exchange(o.clock_, nullptr);
        id_ = o.id_;
      }
      return *this;
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;
    ~Timer() { cancel(); }
    void cancel();
    // True until the callback has started or the timer was cancelled.
    bool pending() const;

   private:
    friend class VirtualClock;
    Timer(VirtualClock* clock, uint64_t id) : clock_(clock), id_(id) {}
    VirtualClock* clock_ = nullptr;
    uint64_t id_ = 0;
  };

  static constexpr int64_t kMaxNs = INT64_MAX;

  int64_t now_ns() const { return now_; }
  // Arms a timer at an absolute deadline; a deadline already passed fires at the next step.
  [[nodiscard]] Timer add_timer(int64_t deadline_ns, std::function<void()> callback);
  std::optional<int64_t> next_deadline() const;
  size_t pending_timers() const { return timers_.size(); }

  // Advances by `ns` (>= 0), firing due timers on the way. False (and no change) if the result
  // would pass kMaxNs.
  bool step(int64_t ns);
  // Advances to the earliest deadline and fires it; false when no timer is pending.
  bool step_to_next_deadline();
  // Moves to `ns`, firing timers on the way; time never goes back: false when ns < now.
  bool set(int64_t ns);

 private:
  struct Entry {
    int64_t deadline;
    std::function<void()> callback;
  };
  void advance_to(int64_t target);
  void remove(uint64_t id);

  int64_t now_ = 0;
  uint64_t next_id_ = 1;
  // Ordered by (deadline, id): ids grow, so equal deadlines fire in arming order.
  std::map<std::pair<int64_t, uint64_t>, std::function<void()>> timers_;
  std::map<uint64_t, int64_t> deadline_of_;
};

// The process-wide virtual clock.
VirtualClock& virtual_clock();

}  // namespace nahanni
