// UniqueFd: a descriptor closed exactly once.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <utility>

#include "util/fd.h"

namespace nahanni {
namespace {

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) >= 0; }

int open_null() { return ::open("/dev/null", O_RDONLY | O_CLOEXEC); }

TEST(UniqueFd, default_is_invalid) {
  UniqueFd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(static_cast<bool>(fd));
  EXPECT_EQ(fd.get(), -1);
}

TEST(UniqueFd, closes_on_destruction) {
  int raw = open_null();
  ASSERT_GE(raw, 0);
  { UniqueFd fd(raw); EXPECT_TRUE(fd.valid()); }
  EXPECT_FALSE(is_open(raw));
}

TEST(UniqueFd, move_transfers_ownership) {
  int raw = open_null();
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), raw);
  UniqueFd c;
  c = std::move(b);
  EXPECT_EQ(c.get(), raw);
  EXPECT_TRUE(is_open(raw));
}

TEST(UniqueFd, move_assignment_closes_the_old_descriptor) {
  int first = open_null(), second = open_null();
  UniqueFd a(first);
  a = UniqueFd(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(a.get(), second);
}

TEST(UniqueFd, release_gives_up_ownership) {
  int raw = open_null();
  { UniqueFd fd(raw); EXPECT_EQ(fd.release(), raw); EXPECT_FALSE(fd.valid()); }
  EXPECT_TRUE(is_open(raw));
  ::close(raw);
}

TEST(UniqueFd, reset_closes_and_replaces) {
  int first = open_null(), second = open_null();
  UniqueFd fd(first);
  fd.reset(second);
  EXPECT_FALSE(is_open(first));
  EXPECT_EQ(fd.get(), second);
  fd.reset();
  EXPECT_FALSE(is_open(second));
  EXPECT_FALSE(fd.valid());
}

TEST(UniqueFd, count_open_fds_sees_new_descriptors) {
  int before = count_open_fds();
  ASSERT_GT(before, 0);
  {
    UniqueFd a(open_null()), b(open_null());
    EXPECT_EQ(count_open_fds(), before + 2);
  }
  EXPECT_EQ(count_open_fds(), before);
}

}  // namespace
}  // namespace nahanni
