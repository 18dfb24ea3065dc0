// The test guest's command-line splitter and number parser, compiled for the host: the
// guest's scenarios depend on them reading words exactly as docs/devel/test-guest.rst says.
#include <gtest/gtest.h>

#include <string>

#include "command-line.h"

namespace nahanni::guest {
namespace {

bool is_step(const char* word) {
  for (const char* name : {"ring", "wait", "pingpong"})
    if (std::string(word) == name) return true;
  return false;
}

TEST(GuestCommandLine, steps_take_the_words_that_follow_them) {
  CommandLine cl;
  const char* error = nullptr;
  ASSERT_TRUE(parse_command_line("watchdog=5 reassign ring peer=1 vector=all\twait vector=2 count=3 "
                                 "pingpong peer=0 rounds=9 initiator",
                                 is_step, &cl, &error));
  ASSERT_EQ(cl.global.word_count, 2);
  EXPECT_STREQ(cl.global.find("watchdog"), "5");
  EXPECT_TRUE(cl.global.has("reassign"));
  EXPECT_EQ(cl.global.find("reassign"), nullptr);  // a bare flag has no value
  ASSERT_EQ(cl.step_count, 3);
  EXPECT_STREQ(cl.steps[0].name, "ring");
  EXPECT_STREQ(cl.steps[0].find("vector"), "all");
  EXPECT_STREQ(cl.steps[1].find("count"), "3");
  EXPECT_EQ(cl.steps[1].find("peer"), nullptr);
  EXPECT_TRUE(cl.steps[2].has("initiator"));
  EXPECT_FALSE(cl.steps[1].has("initiator"));
}

TEST(GuestCommandLine, empty_and_blank_lines_have_no_steps) {
  for (const char* text : {"", "   ", static_cast<const char*>(nullptr)}) {
    CommandLine cl;
    const char* error = nullptr;
    ASSERT_TRUE(parse_command_line(text, is_step, &cl, &error));
    EXPECT_EQ(cl.step_count, 0);
    EXPECT_EQ(cl.global.word_count, 0);
  }
}

TEST(GuestCommandLine, a_value_keeps_later_equals_signs) {
  CommandLine cl;
  const char* error = nullptr;
  ASSERT_TRUE(parse_command_line("ring peer=a=b", is_step, &cl, &error));
  EXPECT_STREQ(cl.steps[0].find("peer"), "a=b");
}

TEST(GuestCommandLine, too_many_steps_or_words_is_an_error) {
  std::string many;
  for (int i = 0; i <= CommandLine::kMaxSteps; ++i) many += "ring ";
  CommandLine cl;
  const char* error = nullptr;
  EXPECT_FALSE(parse_command_line(many.c_str(), is_step, &cl, &error));
  EXPECT_STREQ(error, "too many steps");

  std::string words = "ring";
  for (int i = 0; i <= Step::kMaxWords; ++i) words += " k" + std::to_string(i) + "=1";
  CommandLine cl2;
  EXPECT_FALSE(parse_command_line(words.c_str(), is_step, &cl2, &error));
  EXPECT_STREQ(error, "too many arguments for one step");
}

TEST(GuestCommandLine, numbers_are_decimal_or_0x_hexadecimal) {
  uint64_t v = 0;
  EXPECT_TRUE(parse_u64("0", &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_u64("4096", &v));
  EXPECT_EQ(v, 4096u);
  EXPECT_TRUE(parse_u64("0x800000000", &v));
  EXPECT_EQ(v, 0x800000000u);
  EXPECT_TRUE(parse_u64("0XaBc", &v));
  EXPECT_EQ(v, 0xabcu);
  for (const char* bad : {"", "0x", "12a", "-1", "1 ", "0x1g", "abc"}) EXPECT_FALSE(parse_u64(bad, &v)) << bad;
  EXPECT_FALSE(parse_u64(nullptr, &v));
}

}  // namespace
}  // namespace nahanni::guest
