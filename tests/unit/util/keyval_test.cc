// QEMU's key=value option syntax (QemuOpts flavour), as used by -object, -device, -chardev.
// Expected behaviour was checked against qemu-system-x86_64 7.2.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "util/keyval.h"

namespace nahanni {
namespace {

using Items = std::vector<std::pair<std::string, std::string>>;

// The parsed items as (key, text) pairs, in order.
Items items_of(const OptionList& list) {
  Items out;
  for (const auto& [key, value] : list.items) {
    EXPECT_TRUE(value.is_text()) << key;
    out.emplace_back(key, value.text);
  }
  return out;
}

OptionList parse_ok(std::string_view text, std::string_view implied = "") {
  auto r = parse_keyval(text, implied);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? std::move(r).value() : OptionList{};
}

TEST(Keyval, key_value_pairs_are_kept_in_order) {
  OptionList l = parse_ok("id=m,size=1M,share=on");
  EXPECT_EQ(items_of(l), (Items{{"id", "m"}, {"size", "1M"}, {"share", "on"}}));
  EXPECT_FALSE(l.help);
  EXPECT_FALSE(l.from_json);
  EXPECT_TRUE(l.warnings.empty());
}

TEST(Keyval, implied_key_takes_first_bare_item) {
  OptionList l = parse_ok("ivshmem-plain,memdev=m1,master=on", "driver");
  EXPECT_EQ(items_of(l), (Items{{"driver", "ivshmem-plain"}, {"memdev", "m1"}, {"master", "on"}}));
  EXPECT_TRUE(l.warnings.empty());
}

TEST(Keyval, implied_key_may_also_be_given_explicitly) {
  OptionList l = parse_ok("qom-type=memory-backend-ram,id=m,size=1M", "qom-type");
  EXPECT_EQ(items_of(l), (Items{{"qom-type", "memory-backend-ram"}, {"id", "m"}, {"size", "1M"}}));
}

TEST(Keyval, implied_key_applies_only_to_the_first_item) {
  // A later bare item is a short-form boolean, not a second implied value.
  OptionList l = parse_ok("socket,id=c,server", "backend");
  EXPECT_EQ(items_of(l), (Items{{"backend", "socket"}, {"id", "c"}, {"server", "on"}}));
  EXPECT_EQ(l.warnings.size(), 1u);
}

TEST(Keyval, first_bare_item_without_implied_key_is_a_flag) {
  OptionList l = parse_ok("server,id=c");
  EXPECT_EQ(items_of(l), (Items{{"server", "on"}, {"id", "c"}}));
  EXPECT_EQ(l.warnings.size(), 1u);
}

TEST(Keyval, implied_value_only_list) {
  EXPECT_EQ(items_of(parse_ok("pc", "type")), (Items{{"type", "pc"}}));
}

TEST(Keyval, empty_text_gives_empty_list) {
  OptionList l = parse_ok("", "driver");
  EXPECT_TRUE(l.items.empty());
  EXPECT_FALSE(l.help);
}

TEST(Keyval, double_comma_is_literal_comma_in_value) {
  OptionList l = parse_ok("memory-backend-file,id=m,mem-path=/dev/shm/a,,b,size=1M", "qom-type");
  EXPECT_EQ(l.find_text("mem-path"), "/dev/shm/a,b");
  EXPECT_EQ(l.find_text("size"), "1M");
}

TEST(Keyval, several_escaped_commas_in_one_value) {
  EXPECT_EQ(parse_ok("path=a,,,,b,,").find_text("path"), "a,,b,");
}

TEST(Keyval, double_comma_in_first_item_stays_in_implied_value) {
  // QEMU 7.2: -device ivshmem-plain,,memdev=m -> 'ivshmem-plain,memdev=m' is not a valid device model name
  OptionList l = parse_ok("ivshmem-plain,,memdev=m", "driver");
  EXPECT_EQ(items_of(l), (Items{{"driver", "ivshmem-plain,memdev=m"}}));
}

TEST(Keyval, trailing_comma_is_allowed) {
  EXPECT_EQ(items_of(parse_ok("memory-backend-ram,id=m,size=1M,", "qom-type")),
            (Items{{"qom-type", "memory-backend-ram"}, {"id", "m"}, {"size", "1M"}}));
}

TEST(Keyval, trailing_double_comma_is_a_comma_in_the_last_value) {
  // QEMU 7.2: size=1M,, -> Parameter 'size' expects a size value (the value is "1M,")
  EXPECT_EQ(parse_ok("id=m,size=1M,,").find_text("size"), "1M,");
  EXPECT_EQ(parse_ok("id=m,size=1M,,,").find_text("size"), "1M,");
}

TEST(Keyval, value_may_contain_equals_sign) {
  EXPECT_EQ(items_of(parse_ok("append=console=ttyS0")), (Items{{"append", "console=ttyS0"}}));
}

TEST(Keyval, empty_value_is_kept) {
  EXPECT_EQ(items_of(parse_ok("id=m,share=")), (Items{{"id", "m"}, {"share", ""}}));
}

TEST(Keyval, empty_key_is_kept_for_the_consumer_to_reject) {
  // QEMU 7.2: ...,=5 -> Invalid parameter ''
  EXPECT_EQ(items_of(parse_ok("id=m,=5")), (Items{{"id", "m"}, {"", "5"}}));
}

TEST(Keyval, leading_comma_gives_empty_implied_value) {
  // QEMU 7.2: -object ,memory-backend-ram,... -> qom-type '' plus a short-form flag.
  OptionList l = parse_ok(",memory-backend-ram,id=m", "qom-type");
  EXPECT_EQ(items_of(l), (Items{{"qom-type", ""}, {"memory-backend-ram", "on"}, {"id", "m"}}));
}

TEST(Keyval, repeated_keys_are_all_kept_in_order) {
  OptionList l = parse_ok("id=m,size=1M,size=2M,share=on,size=3M");
  EXPECT_EQ(items_of(l), (Items{{"id", "m"}, {"size", "1M"}, {"size", "2M"}, {"share", "on"}, {"size", "3M"}}));
}

TEST(Keyval, repeated_keys_last_wins_on_lookup) {
  OptionList l = parse_ok("size=1M,size=2M,size=3M");
  ASSERT_NE(l.find("size"), nullptr);
  EXPECT_EQ(l.find("size")->text, "3M");
  EXPECT_EQ(l.find_text("size"), "3M");
  EXPECT_TRUE(l.has("size"));
}

TEST(Keyval, lookup_of_absent_key_finds_nothing) {
  OptionList l = parse_ok("id=m");
  EXPECT_EQ(l.find("size"), nullptr);
  EXPECT_EQ(l.find_text("size"), std::nullopt);
  EXPECT_FALSE(l.has("size"));
}

TEST(Keyval, take_removes_every_repeat_and_returns_the_last) {
  OptionList l = parse_ok("id=a,size=1M,id=b,share=on");
  std::optional<OptionValue> id = l.take("id");
  ASSERT_TRUE(id.has_value());
  EXPECT_EQ(id->text, "b");
  EXPECT_EQ(items_of(l), (Items{{"size", "1M"}, {"share", "on"}}));
  EXPECT_FALSE(l.take("id").has_value());
}

TEST(Keyval, help_as_implied_value_asks_for_help) {
  OptionList l = parse_ok("help", "driver");
  EXPECT_TRUE(l.help);
  EXPECT_TRUE(l.items.empty());
  EXPECT_TRUE(l.warnings.empty());
}

TEST(Keyval, question_mark_as_implied_value_asks_for_help) {
  OptionList l = parse_ok("?", "driver");
  EXPECT_TRUE(l.help);
  EXPECT_TRUE(l.items.empty());
}

TEST(Keyval, help_item_after_type_asks_for_help_without_warning) {
  OptionList l = parse_ok("memory-backend-ram,id=m,size=1M,help", "qom-type");
  EXPECT_TRUE(l.help);
  EXPECT_TRUE(l.warnings.empty());
  EXPECT_EQ(l.find_text("qom-type"), "memory-backend-ram");
  EXPECT_FALSE(l.has("help"));
}

TEST(Keyval, question_mark_item_after_type_asks_for_help) {
  OptionList l = parse_ok("ivshmem-plain,?", "driver");
  EXPECT_TRUE(l.help);
  EXPECT_TRUE(l.warnings.empty());
  EXPECT_EQ(l.find_text("driver"), "ivshmem-plain");
}

TEST(Keyval, help_without_implied_key_asks_for_help) {
  EXPECT_TRUE(parse_ok("help").help);
  EXPECT_TRUE(parse_ok("?").help);
}

TEST(Keyval, help_with_value_is_kept_as_an_item_for_the_consumer) {
  // QEMU 7.2: -device/-object print help for help=<anything> or ?=<anything> (they look for an
  // item named help), while -chardev says "Invalid parameter 'help'". So the parser keeps the
  // item and leaves the choice to the option's consumer.
  OptionList l = parse_ok("memory-backend-ram,id=m,help=off,?=1", "qom-type");
  EXPECT_FALSE(l.help);
  EXPECT_EQ(l.find_text("help"), "off");
  EXPECT_EQ(l.find_text("?"), "1");
}

TEST(Keyval, short_form_boolean_means_on_with_deprecation_warning) {
  OptionList l = parse_ok("memory-backend-file,id=m,size=1M,share,mem-path=/dev/shm/x", "qom-type");
  EXPECT_EQ(l.find_text("share"), "on");
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'share' deprecated\nPlease use share=on instead");
}

TEST(Keyval, short_form_no_prefix_means_off_with_deprecation_warning) {
  OptionList l = parse_ok("memory-backend-ram,id=m,size=1M,noshare", "qom-type");
  EXPECT_EQ(l.find_text("share"), "off");
  EXPECT_FALSE(l.has("noshare"));
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'noshare' deprecated\nPlease use share=off instead");
}

TEST(Keyval, short_form_server_nowait_warns_once_each_in_order) {
  OptionList l = parse_ok("socket,id=c,path=/tmp/s,server,nowait", "backend");
  EXPECT_EQ(l.find_text("server"), "on");
  EXPECT_EQ(l.find_text("wait"), "off");
  ASSERT_EQ(l.warnings.size(), 2u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'server' deprecated\nPlease use server=on instead");
  EXPECT_EQ(l.warnings[1], "short-form boolean option 'nowait' deprecated\nPlease use wait=off instead");
}

TEST(Keyval, short_form_nodelay_hint_names_nodelay_on) {
  OptionList l = parse_ok("socket,id=c,path=/tmp/s,nodelay", "backend");
  EXPECT_EQ(l.find_text("delay"), "off");
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'nodelay' deprecated\nPlease use nodelay=on instead");
}

TEST(Keyval, short_form_delay_hint_names_nodelay_off) {
  OptionList l = parse_ok("socket,id=c,path=/tmp/s,delay", "backend");
  EXPECT_EQ(l.find_text("delay"), "on");
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'delay' deprecated\nPlease use nodelay=off instead");
}

TEST(Keyval, bare_no_is_empty_key_off) {
  // QEMU 7.2 strips the "no" and reports Invalid parameter '' afterwards.
  OptionList l = parse_ok("id=m,no");
  EXPECT_EQ(items_of(l), (Items{{"id", "m"}, {"", "off"}}));
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'no' deprecated\nPlease use =off instead");
}

TEST(Keyval, nohelp_is_help_off_not_a_help_request) {
  // QEMU 7.2 warns, then -device/-object print help because an item named help exists; the
  // item is kept, so a consumer that looks for it behaves the same.
  OptionList l = parse_ok("memory-backend-ram,nohelp", "qom-type");
  EXPECT_FALSE(l.help);
  EXPECT_EQ(l.find_text("help"), "off");
  ASSERT_EQ(l.warnings.size(), 1u);
  EXPECT_EQ(l.warnings[0], "short-form boolean option 'nohelp' deprecated\nPlease use help=off instead");
}

TEST(Keyval, explicit_boolean_values_give_no_warning) {
  EXPECT_TRUE(parse_ok("socket,server=on,wait=off", "backend").warnings.empty());
}

TEST(OptionArgument, text_not_starting_with_brace_is_keyval) {
  auto r = parse_option_argument("ivshmem-plain,memdev=m", "driver");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->from_json);
  EXPECT_EQ(r->find_text("driver"), "ivshmem-plain");
}

TEST(OptionArgument, text_starting_with_brace_is_json) {
  auto r = parse_option_argument(R"({"driver":"ivshmem-plain","memdev":"m"})", "driver");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->from_json);
  EXPECT_EQ(r->find_text("driver"), "ivshmem-plain");
  EXPECT_EQ(r->find_text("memdev"), "m");
}

TEST(OptionArgument, json_errors_come_from_the_json_parser) {
  auto r = parse_option_argument(R"({"driver":"ivshmem-plain","memdev":"m")", "driver");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "JSON parse error, premature EOI");
}

TEST(Identifier, letters_digits_dash_dot_underscore_starting_with_letter_are_valid) {
  for (std::string_view id : {"m", "m1", "a-b.c_d", "Z", "net0", "compat_monitor0", "a.", "x--"})
    EXPECT_TRUE(is_valid_id(id)) << id;
}

TEST(Identifier, other_spellings_are_invalid) {
  for (std::string_view id : {"", "1m", "_a", "-a", ".a", "a b", "a,b", "a/b", "a:b", "é", "a\xc3\xa9", "#block1"})
    EXPECT_FALSE(is_valid_id(id)) << id;
}

TEST(Identifier, invalid_id_error_has_qemu_message_and_hint) {
  Error e = invalid_id_error();
  EXPECT_EQ(e.message(), "Parameter 'id' expects an identifier");
  EXPECT_EQ(e.hint(), "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
  EXPECT_EQ(invalid_id_error("node-name").message(), "Parameter 'node-name' expects an identifier");
}

}  // namespace
}  // namespace nahanni
