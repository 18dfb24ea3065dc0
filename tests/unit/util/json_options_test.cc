// The JSON form of -object and -device, as libvirt passes it. Messages checked against
// qemu-system-x86_64 7.2 (e.g. -object '{"qom-type":"memory-backend-ram"').
#include <gtest/gtest.h>

#include <string>

#include "util/keyval.h"

namespace nahanni {
namespace {

using Kind = OptionValue::Kind;

TEST(JsonOptions, members_are_kept_in_document_order) {
  auto r = parse_json_object(R"({"qom-type":"memory-backend-file","id":"m","size":1048576,"share":true})");
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->items.size(), 4u);
  EXPECT_EQ(r->items[0].first, "qom-type");
  EXPECT_EQ(r->items[1].first, "id");
  EXPECT_EQ(r->items[2].first, "size");
  EXPECT_EQ(r->items[3].first, "share");
  EXPECT_TRUE(r->from_json);
  EXPECT_FALSE(r->help);
  EXPECT_TRUE(r->warnings.empty());
}

TEST(JsonOptions, string_member_is_json_string) {
  auto r = parse_json_object(R"({"driver":"ivshmem-plain"})");
  ASSERT_TRUE(r.ok());
  const OptionValue* v = r->find("driver");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->kind, Kind::JsonString);
  EXPECT_EQ(v->text, "ivshmem-plain");
  EXPECT_EQ(v->display(), "ivshmem-plain");
}

TEST(JsonOptions, boolean_member_is_json_bool) {
  auto r = parse_json_object(R"({"a":true,"b":false})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("a")->kind, Kind::JsonBool);
  EXPECT_TRUE(r->find("a")->boolean);
  EXPECT_FALSE(r->find("b")->boolean);
  EXPECT_EQ(r->find_text("a"), "true");
  EXPECT_EQ(r->find_text("b"), "false");
}

TEST(JsonOptions, non_negative_integer_is_json_uint) {
  auto r = parse_json_object(R"({"size":4194304,"big":18446744073709551615})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("size")->kind, Kind::JsonUInt);
  EXPECT_EQ(r->find("size")->uinteger, 4194304u);
  EXPECT_EQ(r->find("big")->uinteger, UINT64_MAX);
  EXPECT_EQ(r->find_text("size"), "4194304");
}

TEST(JsonOptions, negative_integer_is_json_int) {
  auto r = parse_json_object(R"({"addr":-1})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("addr")->kind, Kind::JsonInt);
  EXPECT_EQ(r->find("addr")->integer, -1);
  EXPECT_EQ(r->find_text("addr"), "-1");
}

TEST(JsonOptions, fraction_is_json_double) {
  auto r = parse_json_object(R"({"x":1.5})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("x")->kind, Kind::JsonDouble);
  EXPECT_DOUBLE_EQ(r->find("x")->number, 1.5);
  EXPECT_EQ(r->find_text("x"), "1.5");
}

TEST(JsonOptions, integer_beyond_64_bits_is_json_double) {
  auto r = parse_json_object(R"({"size":18446744073709551616})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("size")->kind, Kind::JsonDouble);
}

TEST(JsonOptions, null_member_is_json_null) {
  auto r = parse_json_object(R"({"x":null})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("x")->kind, Kind::JsonNull);
  EXPECT_EQ(r->find_text("x"), "null");
}

TEST(JsonOptions, arrays_and_objects_are_compound_with_their_json_text) {
  auto r = parse_json_object(R"({"host-nodes":[0,1],"props":{"a":1}})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find("host-nodes")->kind, Kind::JsonCompound);
  EXPECT_EQ(r->find_text("host-nodes"), "[0,1]");
  EXPECT_EQ(r->find_text("props"), R"({"a":1})");
}

TEST(JsonOptions, empty_object_gives_empty_list) {
  auto r = parse_json_object("{}");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->items.empty());
  EXPECT_TRUE(r->from_json);
}

TEST(JsonOptions, whitespace_around_the_object_is_allowed) {
  auto r = parse_json_object(" { \"id\" : \"m\" } \n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find_text("id"), "m");
}

TEST(JsonOptions, string_escapes_are_decoded) {
  auto r = parse_json_object(R"({"mem-path":"/dev/shm/a,b\"c\u0041"})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->find_text("mem-path"), "/dev/shm/a,b\"cA");
}

TEST(JsonOptions, commas_and_help_have_no_special_meaning) {
  auto r = parse_json_object(R"({"driver":"help","x":"a,,b"})");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->help);
  EXPECT_EQ(r->find_text("x"), "a,,b");
}

TEST(JsonOptions, same_key_in_different_objects_is_not_a_duplicate) {
  auto r = parse_json_object(R"({"a":{"x":1},"b":{"x":2},"x":3})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->items.size(), 3u);
}

TEST(JsonOptions, lenient_turns_json_strings_into_text) {
  OptionValue v{.kind = Kind::JsonString, .text = "2"};
  OptionValue l = v.lenient();
  EXPECT_EQ(l.kind, Kind::Text);
  EXPECT_EQ(l.text, "2");
  OptionValue n{.kind = Kind::JsonUInt, .uinteger = 7};
  EXPECT_EQ(n.lenient().kind, Kind::JsonUInt);
}

struct BadJson {
  const char* text;
  const char* message;
};

// Each row: qemu-system-x86_64 -object '<text>' printed "<message>" after the location.
const BadJson kBadJson[] = {
    {"{", "JSON parse error, premature EOI"},
    {R"({"qom-type")", "JSON parse error, premature EOI"},
    {R"({"qom-type":"memory-backend-ram")", "JSON parse error, premature EOI"},
    {R"({"driver":"ivshmem-plain","memdev":"m")", "JSON parse error, premature EOI"},
    {R"({"a":{"b":1})", "JSON parse error, premature EOI"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":1048576}x)", "Expecting at most one JSON value"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":1048576} {"a":1})", "Expecting at most one JSON value"},
    {R"({"a":1}})", "Expecting at most one JSON value"},
    {R"({"a":1}])", "Expecting at most one JSON value"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":1048576,"size":2097152})",
     "JSON parse error, duplicate key"},
    {R"({"a":{"x":1,"x":2}})", "JSON parse error, duplicate key"},
};

TEST(JsonOptions, malformed_json_gives_qemu_message) {
  for (const BadJson& row : kBadJson) {
    auto r = parse_json_object(row.text);
    ASSERT_FALSE(r.ok()) << row.text;
    EXPECT_EQ(r.error().message(), row.message) << row.text;
    EXPECT_EQ(r.error().error_class(), Error::Class::Generic) << row.text;
  }
}

TEST(JsonOptions, other_syntax_errors_are_reported_not_thrown) {
  // QEMU's lexer words these differently ("expecting value", "stray '-t'", "invalid keyword");
  // we report one generic message. None may escape as an exception.
  for (const char* text : {R"({"qom-type":})", R"({"a":1,})", "{qom-type:1}", R"({"a":tru})", R"({"a" "b"})",
                           R"({"a":1 "b":2})", "{,}", R"({"a":01})", R"({"a":+1})", R"({"a":"\q"})",
                           R"({"a":[1})"}) {
    auto r = parse_json_object(text);
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_TRUE(r.error().message().starts_with("JSON parse error, ")) << text << ": " << r.error().message();
  }
}

TEST(JsonOptions, number_beyond_double_range_is_an_error_not_a_crash) {
  auto r = parse_json_object(R"({"qom-type":"memory-backend-ram","id":"m","size":1e999})");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "JSON parse error, number out of range");
}

TEST(JsonOptions, top_level_value_must_be_an_object) {
  auto r = parse_json_object("[1]");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "JSON value must be an object");
}

}  // namespace
}  // namespace nahanni
