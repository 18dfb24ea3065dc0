// The event loop: fd watches, timers and posted callbacks, registered through RAII handles.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "util/event-loop.h"
#include "util/fd.h"

namespace nahanni {
namespace {

using namespace std::chrono_literals;

struct Pipe {
  UniqueFd read, write;
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    read.reset(fds[0]);
    write.reset(fds[1]);
  }
  void put(char c = 'x') { ASSERT_EQ(::write(write.get(), &c, 1), 1); }
  void drain() {
    char buf[64];
    while (::read(read.get(), buf, sizeof buf) > 0) {
    }
  }
};

// Runs the loop until `done` or a generous deadline; false on timeout.
template <typename Pred>
bool run_until(EventLoop& loop, Pred done, std::chrono::milliseconds limit = 2000ms) {
  auto end = EventLoop::Clock::now() + limit;
  while (!done()) {
    if (EventLoop::Clock::now() > end) return false;
    loop.run_once(10ms);
  }
  return true;
}

TEST(EventLoop, readable_fd_calls_back_with_readable) {
  EventLoop loop;
  Pipe p;
  std::vector<uint32_t> seen;
  auto h = loop.watch_fd(p.read.get(), EventLoop::kReadable, [&](uint32_t ev) {
    seen.push_back(ev);
    p.drain();
  });
  EXPECT_TRUE(h.active());
  EXPECT_EQ(loop.watch_count(), 1u);
  loop.run_once(0ms);
  EXPECT_TRUE(seen.empty());
  p.put();
  ASSERT_TRUE(run_until(loop, [&] { return !seen.empty(); }));
  EXPECT_EQ(seen, std::vector<uint32_t>{EventLoop::kReadable});
}

TEST(EventLoop, dropping_the_handle_unregisters_the_watch) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  {
    auto h = loop.watch_fd(p.read.get(), EventLoop::kReadable, [&](uint32_t) { ++calls; });
    EXPECT_EQ(loop.watch_count(), 1u);
  }
  EXPECT_EQ(loop.watch_count(), 0u);
  p.put();
  loop.run_once(20ms);
  EXPECT_EQ(calls, 0);
}

TEST(EventLoop, handle_may_reset_itself_inside_its_callback) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  EventLoop::Handle h;
  h = loop.watch_fd(p.read.get(), EventLoop::kReadable, [&](uint32_t) {
    ++calls;
    h.reset();  // the fd stays readable: no further calls must follow
  });
  p.put();
  ASSERT_TRUE(run_until(loop, [&] { return calls > 0; }));
  loop.run_once(20ms);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(h.active());
  EXPECT_EQ(loop.watch_count(), 0u);
}

TEST(EventLoop, moved_handle_keeps_the_registration) {
  EventLoop loop;
  Pipe p;
  int calls = 0;
  EventLoop::Handle outer;
  {
    auto inner = loop.watch_fd(p.read.get(), EventLoop::kReadable, [&](uint32_t) {
      ++calls;
      p.drain();
    });
    outer = std::move(inner);
  }
  EXPECT_TRUE(outer.active());
  p.put();
  ASSERT_TRUE(run_until(loop, [&] { return calls == 1; }));
}

TEST(EventLoop, set_events_switches_to_writable) {
  EventLoop loop;
  Pipe p;
  std::vector<uint32_t> seen;
  auto h = loop.watch_fd(p.write.get(), EventLoop::kReadable, [&](uint32_t ev) { seen.push_back(ev); });
  loop.run_once(10ms);
  EXPECT_TRUE(seen.empty());  // a pipe's write end is never readable
  h.set_events(EventLoop::kWritable);
  ASSERT_TRUE(run_until(loop, [&] { return !seen.empty(); }));
  EXPECT_EQ(seen[0], static_cast<uint32_t>(EventLoop::kWritable));
}

TEST(EventLoop, peer_close_reports_hangup) {
  EventLoop loop;
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd a(sv[0]), b(sv[1]);
  uint32_t got = 0;
  auto h = loop.watch_fd(a.get(), EventLoop::kReadable, [&](uint32_t ev) { got = ev; });
  b.reset();
  ASSERT_TRUE(run_until(loop, [&] { return got != 0; }));
  EXPECT_TRUE(got & EventLoop::kHangup);
  EXPECT_TRUE(got & EventLoop::kReadable);
}

TEST(EventLoop, regular_file_is_reported_ready_once_without_a_handle) {
  EventLoop loop;
  char path[] = "/tmp/nahanni-evloop-XXXXXX";
  UniqueFd f(::mkostemp(path, O_CLOEXEC));
  ASSERT_TRUE(f.valid());
  ::unlink(path);
  std::vector<uint32_t> seen;
  auto h = loop.watch_fd(f.get(), EventLoop::kReadable, [&](uint32_t ev) { seen.push_back(ev); });
  EXPECT_FALSE(h.active());
  loop.run_once(10ms);
  loop.run_once(10ms);
  EXPECT_EQ(seen, std::vector<uint32_t>{EventLoop::kReadable});
}

TEST(EventLoop, one_shot_timer_fires_once_after_its_delay) {
  EventLoop loop;
  int fired = 0;
  auto start = EventLoop::Clock::now();
  EventLoop::Clock::time_point when;
  auto t = loop.add_timer(30ms, [&] {
    ++fired;
    when = EventLoop::Clock::now();
  });
  ASSERT_TRUE(run_until(loop, [&] { return fired > 0; }));
  EXPECT_GE(when - start, 30ms);
  loop.run_once(50ms);
  EXPECT_EQ(fired, 1);
}

TEST(EventLoop, repeating_timer_fires_until_its_handle_is_dropped) {
  EventLoop loop;
  int fired = 0;
  EventLoop::Handle t = loop.add_timer(5ms, [&] { ++fired; }, /*repeat=*/true);
  ASSERT_TRUE(run_until(loop, [&] { return fired >= 3; }));
  t.reset();
  int at_reset = fired;
  loop.run_once(30ms);
  EXPECT_EQ(fired, at_reset);
}

TEST(EventLoop, dropped_timer_never_fires) {
  EventLoop loop;
  bool fired = false;
  { auto t = loop.add_timer(1ms, [&] { fired = true; }); }
  std::this_thread::sleep_for(5ms);
  loop.run_once(10ms);
  EXPECT_FALSE(fired);
}

TEST(EventLoop, timers_fire_in_deadline_order) {
  EventLoop loop;
  std::string order;
  auto c = loop.add_timer(30ms, [&] { order += 'c'; });
  auto a = loop.add_timer(10ms, [&] { order += 'a'; });
  auto b = loop.add_timer(20ms, [&] { order += 'b'; });
  ASSERT_TRUE(run_until(loop, [&] { return order.size() == 3; }));
  EXPECT_EQ(order, "abc");
}

TEST(EventLoop, timer_wakes_a_loop_waiting_forever) {
  EventLoop loop;
  bool fired = false;
  auto t = loop.add_timer(10ms, [&] {
    fired = true;
    loop.quit();
  });
  loop.run();  // would block forever if the timer did not bound the wait
  EXPECT_TRUE(fired);
}

TEST(EventLoop, posted_callbacks_run_in_order_on_the_next_iteration) {
  EventLoop loop;
  std::string order;
  loop.post([&] { order += '1'; });
  loop.post([&] { order += '2'; });
  EXPECT_EQ(order, "");
  loop.run_once(100ms);
  EXPECT_EQ(order, "12");
}

TEST(EventLoop, post_from_another_thread_wakes_a_blocked_loop) {
  EventLoop loop;
  std::atomic<bool> ran{false};
  std::thread other([&] {
    std::this_thread::sleep_for(20ms);
    loop.post([&] {
      ran = true;
      loop.quit();
    });
  });
  loop.run();
  other.join();
  EXPECT_TRUE(ran);
}

TEST(EventLoop, quit_stops_run_and_later_run_once_returns_false) {
  EventLoop loop;
  loop.post([&] { loop.quit(); });
  loop.run();
  EXPECT_TRUE(loop.quitting());
  EXPECT_FALSE(loop.run_once(0ms));
}

TEST(EventLoop, destroying_the_loop_closes_its_descriptors) {
  int before = count_open_fds();
  { EventLoop loop; }
  EXPECT_EQ(count_open_fds(), before);
}

}  // namespace
}  // namespace nahanni
