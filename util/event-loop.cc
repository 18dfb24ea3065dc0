#include "util/event-loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace nahanni {
namespace {

constexpr uint64_t kWakeupId = 0;

uint32_t to_epoll(uint32_t events) {
  uint32_t e = 0;
  if (events & EventLoop::kReadable) e |= EPOLLIN;
  if (events & EventLoop::kWritable) e |= EPOLLOUT;
  return e;
}

uint32_t from_epoll(uint32_t e) {
  uint32_t r = 0;
  if (e & (EPOLLIN | EPOLLPRI)) r |= EventLoop::kReadable;
  if (e & EPOLLOUT) r |= EventLoop::kWritable;
  if (e & (EPOLLHUP | EPOLLRDHUP)) r |= EventLoop::kHangup;
  if (e & EPOLLERR) r |= EventLoop::kError;
  return r;
}

}  // namespace

void EventLoop::Handle::reset() {
  if (loop_) std::exchange(loop_, nullptr)->remove(id_);
}

void EventLoop::Handle::set_events(uint32_t events) {
  if (loop_) loop_->modify(id_, events);
}

EventLoop::EventLoop()
    : epoll_(::epoll_create1(EPOLL_CLOEXEC)), wakeup_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  if (!epoll_ || !wakeup_) {
    std::perror("event loop");
    std::abort();  // no descriptors at all: nothing sensible can go on
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeupId;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeup_.get(), &ev);
}

EventLoop::~EventLoop() = default;

EventLoop::Handle EventLoop::watch_fd(int fd, uint32_t events, FdCallback callback) {
  uint64_t id = next_id_++;
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.u64 = id;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) < 0) {
    // Regular files cannot be polled: they are always ready, so report them as such.
    if (errno != EPERM) return {};
    post([callback, events] { callback(events); });
    return {};
  }
  fd_watches_[id] = std::make_shared<FdWatch>(FdWatch{fd, events, std::move(callback)});
  return Handle(this, id);
}

EventLoop::Handle EventLoop::add_timer(std::chrono::nanoseconds delay, std::function<void()> callback,
                                       bool repeat) {
  uint64_t id = next_id_++;
  auto deadline = Clock::now() + delay;
  timers_[id] = std::make_shared<Timer>(Timer{deadline, delay, repeat, std::move(callback)});
  timer_queue_.emplace(deadline, id);
  return Handle(this, id);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  ssize_t unused = ::write(wakeup_.get(), &one, sizeof one);
  (void)unused;
}

void EventLoop::remove(uint64_t id) {
  if (auto it = fd_watches_.find(id); it != fd_watches_.end()) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
    fd_watches_.erase(it);
    return;
  }
  timers_.erase(id);  // its queue entry is skipped when it comes due
}

void EventLoop::modify(uint64_t id, uint32_t events) {
  auto it = fd_watches_.find(id);
  if (it == fd_watches_.end() || it->second->events == events) return;
  it->second->events = events;
  epoll_event ev{};
  ev.events = to_epoll(events);
  ev.data.u64 = id;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, it->second->fd, &ev);
}

void EventLoop::run_timers() {
  auto now = Clock::now();
  while (!timer_queue_.empty() && timer_queue_.begin()->first <= now) {
    auto [deadline, id] = *timer_queue_.begin();
    timer_queue_.erase(timer_queue_.begin());
    auto it = timers_.find(id);
    if (it == timers_.end() || it->second->deadline != deadline) continue;
    std::shared_ptr<Timer> timer = it->second;
    if (timer->repeat) {
      timer->deadline = now + timer->period;
      timer_queue_.emplace(timer->deadline, id);
    } else {
      timers_.erase(it);
    }
    timer->callback();
  }
}

void EventLoop::run_posted() {
  uint64_t count;
  ssize_t unused = ::read(wakeup_.get(), &count, sizeof count);
  (void)unused;
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

bool EventLoop::run_once(std::chrono::milliseconds timeout) {
  if (quit_) return false;
  int wait_ms = static_cast<int>(timeout.count());
  if (!timer_queue_.empty()) {
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(timer_queue_.begin()->first - Clock::now());
    int timer_ms = until.count() < 0 ? 0 : static_cast<int>(until.count()) + 1;
    if (wait_ms < 0 || timer_ms < wait_ms) wait_ms = timer_ms;
  }
  epoll_event events[64];
  if (before_wait_) before_wait_();
  int n = ::epoll_wait(epoll_.get(), events, 64, wait_ms);
  if (after_wait_) after_wait_();
  for (int i = 0; i < n; ++i) {
    uint64_t id = events[i].data.u64;
    if (id == kWakeupId) {
      run_posted();
      continue;
    }
    auto it = fd_watches_.find(id);
    if (it == fd_watches_.end()) continue;  // removed by an earlier callback in this batch
    std::shared_ptr<FdWatch> watch = it->second;  // keeps the callback alive if it removes itself
    watch->callback(from_epoll(events[i].events));
  }
  run_timers();
  return !quit_;
}

void EventLoop::run() {
  while (run_once()) {
  }
}

void EventLoop::quit() {
  quit_ = true;
  post([] {});
}

}  // namespace nahanni
