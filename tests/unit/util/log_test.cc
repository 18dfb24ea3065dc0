// Messages in QEMU's form: "PROGRAM: [LOCATION: ][warning: |info: ]message".
#include <gtest/gtest.h>

#include <regex>
#include <string>
#include <vector>

#include "util/keyval.h"
#include "util/log.h"

namespace nahanni {
namespace {

std::vector<std::string> g_lines;
void capture(std::string_view line) { g_lines.emplace_back(line); }

class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    g_lines.clear();
    log::set_program_name("qemu-system-x86_64");
    log::set_sink(capture);
  }
  void TearDown() override {
    log::set_sink(nullptr);
    log::set_timestamps(false);
    log::set_program_name("nahanni");
  }
};

TEST_F(LogTest, error_without_location_is_program_and_message) {
  log::error("can't open backing store /nonexist/x for guest RAM: No such file or directory");
  EXPECT_EQ(g_lines, std::vector<std::string>{"qemu-system-x86_64: can't open backing store /nonexist/x for guest "
                                              "RAM: No such file or directory"});
}

TEST_F(LogTest, error_inside_location_scope_names_the_option_as_typed) {
  log::LocationScope where("-device ivshmem-plain,memdev=m,foo=1");
  log::error("Property 'ivshmem-plain.foo' not found");
  EXPECT_EQ(g_lines, std::vector<std::string>{
                         "qemu-system-x86_64: -device ivshmem-plain,memdev=m,foo=1: Property 'ivshmem-plain.foo' not found"});
}

TEST_F(LogTest, warning_goes_after_the_location) {
  log::LocationScope where("-object memory-backend-ram,id=m,size=0x20M");
  log::warning("Using a multiplier suffix on hex numbers is deprecated: 0x20M");
  EXPECT_EQ(g_lines, std::vector<std::string>{"qemu-system-x86_64: -object memory-backend-ram,id=m,size=0x20M: "
                                              "warning: Using a multiplier suffix on hex numbers is deprecated: 0x20M"});
}

TEST_F(LogTest, warning_without_location) {
  log::warning("something");
  EXPECT_EQ(g_lines, std::vector<std::string>{"qemu-system-x86_64: warning: something"});
}

TEST_F(LogTest, info_has_its_own_prefix) {
  log::LocationScope where("-qtest unix:/tmp/q");
  log::info("x");
  EXPECT_EQ(g_lines, std::vector<std::string>{"qemu-system-x86_64: -qtest unix:/tmp/q: info: x"});
}

TEST_F(LogTest, error_value_prints_its_hint_on_the_next_line) {
  log::LocationScope where("-object memory-backend-ram,id=1m,size=1M");
  log::error(invalid_id_error());
  EXPECT_EQ(g_lines, (std::vector<std::string>{
                         "qemu-system-x86_64: -object memory-backend-ram,id=1m,size=1M: Parameter 'id' expects an "
                         "identifier",
                         "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter."}));
}

TEST_F(LogTest, error_value_without_hint_is_one_line) {
  log::error(Error("Device 'nope' not found"));
  EXPECT_EQ(g_lines, std::vector<std::string>{"qemu-system-x86_64: Device 'nope' not found"});
}

TEST_F(LogTest, short_form_boolean_warning_prints_as_qemu_does) {
  const char* arg = "memory-backend-file,id=m,size=1M,share,mem-path=/dev/shm/x";
  auto list = parse_keyval(arg, "qom-type");
  ASSERT_TRUE(list.ok());
  log::LocationScope where(std::string("-object ") + arg);
  for (const std::string& w : list->warnings) log::warning(w);
  ASSERT_EQ(g_lines.size(), 1u);
  EXPECT_EQ(g_lines[0] + "\n",
            "qemu-system-x86_64: -object memory-backend-file,id=m,size=1M,share,mem-path=/dev/shm/x: warning: "
            "short-form boolean option 'share' deprecated\n"
            "Please use share=on instead\n");
}

TEST_F(LogTest, nested_scopes_restore_the_outer_location) {
  {
    log::LocationScope outer("-device a");
    {
      log::LocationScope inner("-device b");
      log::error("in b");
    }
    log::error("in a");
  }
  log::error("nowhere");
  EXPECT_EQ(g_lines, (std::vector<std::string>{"qemu-system-x86_64: -device b: in b",
                                               "qemu-system-x86_64: -device a: in a",
                                               "qemu-system-x86_64: nowhere"}));
}

TEST_F(LogTest, formatted_variants_format_first) {
  log::errorf("Duplicate ID '{}' for {}", "a", "device");
  log::warnf("{} is {}", "x", 1);
  log::infof("{}", "hi");
  EXPECT_EQ(g_lines, (std::vector<std::string>{"qemu-system-x86_64: Duplicate ID 'a' for device",
                                               "qemu-system-x86_64: warning: x is 1",
                                               "qemu-system-x86_64: info: hi"}));
}

TEST_F(LogTest, hint_is_a_plain_line) {
  log::LocationScope where("-device x");
  log::hint("Please use share=on instead");
  EXPECT_EQ(g_lines, std::vector<std::string>{"Please use share=on instead"});
}

TEST_F(LogTest, program_name_is_settable) {
  log::set_program_name("nahanni-system-x86_64");
  EXPECT_EQ(log::program_name(), "nahanni-system-x86_64");
  log::error("x");
  EXPECT_EQ(g_lines, std::vector<std::string>{"nahanni-system-x86_64: x"});
}

TEST_F(LogTest, timestamps_prefix_iso8601_utc) {
  log::set_timestamps(true);
  log::LocationScope where("-device x");
  log::warning("w");
  ASSERT_EQ(g_lines.size(), 1u);
  EXPECT_TRUE(std::regex_match(
      g_lines[0], std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z qemu-system-x86_64: -device x: warning: w)")))
      << g_lines[0];
}

}  // namespace
}  // namespace nahanni
