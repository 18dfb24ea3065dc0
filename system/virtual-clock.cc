#include "system/virtual-clock.h"

namespace nahanni {

void VirtualClock::Timer::cancel() {
  if (clock_) clock_->remove(id_);
  clock_ = nullptr;
}

bool VirtualClock::Timer::pending() const { return clock_ && clock_->deadline_of_.count(id_) != 0; }

VirtualClock::Timer VirtualClock::add_timer(int64_t deadline_ns, std::function<void()> callback) {
  uint64_t id = next_id_++;
  timers_.emplace(std::pair(deadline_ns, id), std::move(callback));
  deadline_of_.emplace(id, deadline_ns);
  return Timer(this, id);
}

void VirtualClock::remove(uint64_t id) {
  auto it = deadline_of_.find(id);
  if (it == deadline_of_.end()) return;
  timers_.erase(std::pair(it->second, id));
  deadline_of_.erase(it);
}

std::optional<int64_t> VirtualClock::next_deadline() const {
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

void VirtualClock::advance_to(int64_t target) {
  // One timer at a time: a callback may arm or cancel others, so the queue is re-read each turn.
  while (!timers_.empty() && timers_.begin()->first.first <= target) {
    auto it = timers_.begin();
    auto [deadline, id] = it->first;
    std::function<void()> callback = std::move(it->second);
    timers_.erase(it);
    deadline_of_.erase(id);
    if (deadline > now_) now_ = deadline;
    if (callback) callback();
  }
  if (target > now_) now_ = target;
}

bool VirtualClock::step(int64_t ns) {
  if (ns < 0 || ns > kMaxNs - now_) return false;
  advance_to(now_ + ns);
  return true;
}

bool VirtualClock::step_to_next_deadline() {
  auto deadline = next_deadline();
  if (!deadline) return false;
  advance_to(*deadline > now_ ? *deadline : now_);
  return true;
}

bool VirtualClock::set(int64_t ns) {
  if (ns < now_) return false;
  advance_to(ns);
  return true;
}

VirtualClock& virtual_clock() {
  static VirtualClock clock;
  return clock;
}

}  // namespace nahanni
