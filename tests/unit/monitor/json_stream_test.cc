// The QMP stream splitter: messages split at every byte, strings holding braces and escapes,
// garbage that resets the stream, and the size bound.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "monitor/json-stream.h"

namespace nahanni {
namespace {

// "T:<json>" for a message, "E:<error>" for an error.
std::vector<std::string> split(std::string_view input, size_t max = JsonStreamSplitter::kDefaultMaxMessage) {
  JsonStreamSplitter s(max);
  std::vector<JsonStreamItem> items;
  s.feed(input, items);
  std::vector<std::string> out;
  for (auto& i : items) out.push_back((i.is_error ? "E:" : "T:") + i.text);
  return out;
}

using V = std::vector<std::string>;

TEST(JsonStream, two_messages_in_one_chunk) {
  EXPECT_EQ(split("{\"execute\":\"a\"}{\"execute\":\"b\"}\n"),
            (V{"T:{\"execute\":\"a\"}", "T:{\"execute\":\"b\"}"}));
}

TEST(JsonStream, message_split_at_every_byte_is_found_once) {
  const std::string msg = R"({"execute": "qom-get", "arguments": {"path": "/a{b}[c]", "x": [1, {"y": "\"}"}]}})";
  const std::string input = msg + "\r\n" + msg;
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    JsonStreamSplitter s;
    std::vector<JsonStreamItem> items;
    s.feed(std::string_view(input).substr(0, cut), items);
    s.feed(std::string_view(input).substr(cut), items);
    ASSERT_EQ(items.size(), 2u) << "cut at " << cut;
    EXPECT_FALSE(items[0].is_error);
    EXPECT_EQ(items[0].text, msg);
    EXPECT_EQ(items[1].text, msg);
  }
}

TEST(JsonStream, one_byte_at_a_time) {
  const std::string msg = R"({"a": "}}}", "b": "\\", "c": ["]"]})";
  JsonStreamSplitter s;
  std::vector<JsonStreamItem> items;
  for (char c : msg) s.feed(std::string_view(&c, 1), items);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, msg);
}

TEST(JsonStream, braces_inside_strings_do_not_count) {
  EXPECT_EQ(split(R"({"a":"{{{["})"), (V{R"(T:{"a":"{{{["})"}));
}

TEST(JsonStream, escaped_quote_and_backslash_keep_the_string_open) {
  EXPECT_EQ(split(R"({"a":"x\"}\\"})"), (V{R"(T:{"a":"x\"}\\"})"}));
}

TEST(JsonStream, single_quoted_strings_become_standard_json) {
  EXPECT_EQ(split(R"({'execute': 'say "hi"', 'b': 'it\'s'})"),
            (V{R"(T:{"execute": "say \"hi\"", "b": "it's"})"}));
}

TEST(JsonStream, top_level_scalars_are_messages) {
  EXPECT_EQ(split("3\n\"s\" true "), (V{"T:3", "T:\"s\"", "T:true"}));
}

TEST(JsonStream, control_character_is_stray_and_resets) {
  EXPECT_EQ(split("{\"execute\": \x01 {\"execute\":\"x\"}"),
            (V{"E:JSON parse error, stray '\x01'", "T:{\"execute\":\"x\"}"}));
}

TEST(JsonStream, control_character_inside_string_is_stray) {
  EXPECT_EQ(split("{\"a\":\"b\x02\"}"), (V{"E:JSON parse error, stray '\x02'"}));
}

TEST(JsonStream, byte_ff_resets_a_partial_message) {
  EXPECT_EQ(split("{\"a\":\xff{\"b\":1}"),
            (V{"E:JSON parse error, stray '\xEF\xBF\xBD'", "T:{\"b\":1}"}));
}

TEST(JsonStream, stray_closing_brace_expects_value) {
  EXPECT_EQ(split("}\n{}"), (V{"E:JSON parse error, expecting value", "T:{}"}));
}

TEST(JsonStream, invalid_keyword) {
  EXPECT_EQ(split("x\n"), (V{"E:JSON parse error, invalid keyword 'x'"}));
  EXPECT_EQ(split("{\"a\": nul}{}"), (V{"E:JSON parse error, invalid keyword 'nul'", "E:JSON parse error, expecting value", "T:{}"}));
}

TEST(JsonStream, keywords_and_numbers_inside_values_are_kept) {
  EXPECT_EQ(split("{\"a\": [true, false, null, -1.5e3, 0]}"), (V{"T:{\"a\": [true, false, null, -1.5e3, 0]}"}));
}

TEST(JsonStream, oversize_message_is_reported_once_and_skipped) {
  std::string big = "{\"a\":\"" + std::string(200, 'x') + "\", \"b\": [{}]}";
  EXPECT_EQ(split(big + "{\"ok\":1}", 64),
            (V{"E:JSON parse error, message exceeds 64 bytes", "T:{\"ok\":1}"}));
}

TEST(JsonStream, message_at_the_limit_passes) {
  std::string msg = "{\"a\":\"" + std::string(56, 'x') + "\"}";
  ASSERT_EQ(msg.size(), 64u);
  EXPECT_EQ(split(msg, 64), (V{"T:" + msg}));
}

TEST(JsonStream, nesting_is_bounded) {
  std::string deep(JsonStreamSplitter::kMaxNesting + 1, '[');
  EXPECT_EQ(split(deep + "{}"), (V{"E:JSON parse error, nesting too deep", "T:{}"}));
}

TEST(JsonStream, reset_forgets_partial_message) {
  JsonStreamSplitter s;
  std::vector<JsonStreamItem> items;
  s.feed(std::string_view("{\"a\":"), items);
  s.reset();
  s.feed(std::string_view("{}"), items);
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].text, "{}");
}

}  // namespace
}  // namespace nahanni
