// The event loop: epoll over descriptors, one-shot and repeating timers, and callbacks posted
// from other threads. Registrations are RAII handles: dropping one unregisters it, also from
// inside its own callback. One loop per thread; nothing here blocks but run/run_once.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "util/fd.h"

namespace nahanni {

class EventLoop {
 public:
  enum Events : uint32_t { kReadable = 1, kWritable = 2 };
  // `revents` holds kReadable/kWritable, plus kHangup/kError bits when the peer is gone.
  static constexpr uint32_t kHangup = 4, kError = 8;
  using FdCallback = std::function<void(uint32_t revents)>;
  using Clock = std::chrono::steady_clock;

  class Handle {
   public:
    Handle() = default;
    Handle(Handle&& o) noexcept : loop_(std::exchange(o.loop_, nullptr)), id_(o.id_) {}
    Handle& operator=(Handle&& o) noexcept {
      if (this != &o) {
        reset();
        loop_ = std::exchange(o.loop_, nullptr);
        id_ = o.id_;
      }
      return *this;
    }
    ~Handle() { reset(); }
    void reset();
    bool active() const { return loop_ != nullptr; }
    // For fd watches: change the events of interest.
    void set_events(uint32_t events);

   private:
    friend class EventLoop;
    Handle(EventLoop* loop, uint64_t id) : loop_(loop), id_(id) {}
    EventLoop* loop_ = nullptr;
    uint64_t id_ = 0;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  [[nodiscard]] Handle watch_fd(int fd, uint32_t events, FdCallback callback);
  [[nodiscard]] Handle add_timer(std::chrono::nanoseconds delay, std::function<void()> callback,
                                 bool repeat = false);
  // Runs `fn` on the loop's thread at its next iteration; safe from any thread.
  void post(std::function<void()> fn);

  // Waits up to `timeout` (negative: forever) and dispatches what is ready. False once quit.
  bool run_once(std::chrono::milliseconds timeout = std::chrono::milliseconds(-1));
  void run();
  void quit();
  // Called around the wait for events (the machine lock is dropped while the loop sleeps).
  void set_wait_hooks(std::function<void()> before_wait, std::function<void()> after_wait) {
    before_wait_ = std::move(before_wait);
    after_wait_ = std::move(after_wait);
  }
  bool quitting() const { return quit_; }
  size_t watch_count() const { return fd_watches_.size(); }

 private:
  struct FdWatch {
    int fd;
    uint32_t events;
    FdCallback callback;
  };
  struct Timer {
    Clock::time_point deadline;
    std::chrono::nanoseconds period;
    bool repeat;
    std::function<void()> callback;
  };

  void remove(uint64_t id);
  void modify(uint64_t id, uint32_t events);
  void run_timers();
  void run_posted();

  UniqueFd epoll_;
  UniqueFd wakeup_;  // eventfd written by post()
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, std::shared_ptr<FdWatch>> fd_watches_;
  std::unordered_map<uint64_t, std::shared_ptr<Timer>> timers_;
  std::multimap<Clock::time_point, uint64_t> timer_queue_;
  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  bool quit_ = false;
  std::function<void()> before_wait_;
  std::function<void()> after_wait_;
};

}  // namespace nahanni
