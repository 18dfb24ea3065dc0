#include "system/virtual-clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace nahanni {
namespace {

TEST(VirtualClock, starts_at_zero_and_moves_only_when_told) {
  VirtualClock clock;
  EXPECT_EQ(clock.now_ns(), 0);
  EXPECT_FALSE(clock.next_deadline());
  EXPECT_TRUE(clock.step(10));
  EXPECT_EQ(clock.now_ns(), 10);
}

TEST(VirtualClock, timers_fire_in_deadline_order_seeing_their_deadline) {
  VirtualClock clock;
  std::vector<std::pair<int, int64_t>> fired;
  auto t2 = clock.add_timer(200, [&] { fired.push_back({2, clock.now_ns()}); });
  auto t1 = clock.add_timer(100, [&] { fired.push_back({1, clock.now_ns()}); });
  auto t3 = clock.add_timer(100, [&] { fired.push_back({3, clock.now_ns()}); });
  EXPECT_EQ(clock.next_deadline(), 100);
  EXPECT_TRUE(clock.step(250));
  std::vector<std::pair<int, int64_t>> expected = {{1, 100}, {3, 100}, {2, 200}};
  EXPECT_EQ(fired, expected);
  EXPECT_EQ(clock.now_ns(), 250);
  EXPECT_FALSE(t1.pending());
}

TEST(VirtualClock, step_to_next_deadline_fires_only_the_earliest) {
  VirtualClock clock;
  int a = 0, b = 0;
  auto ta = clock.add_timer(50, [&] { ++a; });
  auto tb = clock.add_timer(70, [&] { ++b; });
  EXPECT_TRUE(clock.step_to_next_deadline());
  EXPECT_EQ(clock.now_ns(), 50);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_TRUE(clock.step_to_next_deadline());
  EXPECT_EQ(clock.now_ns(), 70);
  EXPECT_FALSE(clock.step_to_next_deadline());
}

TEST(VirtualClock, dropping_a_handle_cancels) {
  VirtualClock clock;
  int fired = 0;
  {
    auto t = clock.add_timer(10, [&] { ++fired; });
    EXPECT_TRUE(t.pending());
  }
  EXPECT_EQ(clock.pending_timers(), 0u);
  EXPECT_TRUE(clock.step(100));
  EXPECT_EQ(fired, 0);
}

TEST(VirtualClock, callbacks_may_rearm_themselves) {
  VirtualClock clock;
  std::vector<int64_t> ticks;
  VirtualClock::Timer timer;
  std::function<void()> tick = [&] {
    ticks.push_back(clock.now_ns());
    if (ticks.size() < 3) timer = clock.add_timer(clock.now_ns() + 100, tick);
  };
  timer = clock.add_timer(100, tick);
  EXPECT_TRUE(clock.set(1000));
  EXPECT_EQ(ticks, (std::vector<int64_t>{100, 200, 300}));
  EXPECT_EQ(clock.now_ns(), 1000);
}

TEST(VirtualClock, time_never_goes_back_or_overflows) {
  VirtualClock clock;
  EXPECT_TRUE(clock.set(500));
  EXPECT_FALSE(clock.set(499));
  EXPECT_EQ(clock.now_ns(), 500);
  EXPECT_FALSE(clock.step(-1));
  EXPECT_FALSE(clock.step(VirtualClock::kMaxNs));
  EXPECT_EQ(clock.now_ns(), 500);
  EXPECT_TRUE(clock.step(VirtualClock::kMaxNs - 500));
  EXPECT_EQ(clock.now_ns(), VirtualClock::kMaxNs);
}

TEST(VirtualClock, past_deadline_fires_at_the_next_step_without_moving_back) {
  VirtualClock clock;
  EXPECT_TRUE(clock.set(1000));
  int64_t seen = -1;
  auto t = clock.add_timer(10, [&] { seen = clock.now_ns(); });
  EXPECT_TRUE(clock.step_to_next_deadline());
  EXPECT_EQ(seen, 1000);
  EXPECT_EQ(clock.now_ns(), 1000);
}

}  // namespace
}  // namespace nahanni
