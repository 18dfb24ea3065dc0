// Typed property values from option text or JSON: bools, integers, sizes, strings, enums,
// OnOffAuto, ids. Every message here was printed by qemu-system-x86_64 7.2 after the location.
#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>

#include "util/keyval.h"
#include "util/option-value.h"

namespace nahanni {
namespace {

OptionValue text(std::string t) { return OptionValue::from_text(std::move(t)); }

TEST(BoolValue, all_eight_spellings_are_accepted) {
  for (std::string_view t : {"on", "yes", "true", "y"}) {
    auto r = parse_bool_value("share", text(std::string(t)));
    ASSERT_TRUE(r.ok()) << t;
    EXPECT_TRUE(*r) << t;
  }
  for (std::string_view t : {"off", "no", "false", "n"}) {
    auto r = parse_bool_value("share", text(std::string(t)));
    ASSERT_TRUE(r.ok()) << t;
    EXPECT_FALSE(*r) << t;
  }
}

TEST(BoolValue, json_booleans_are_accepted) {
  EXPECT_TRUE(*parse_bool_value("share", OptionValue{.kind = OptionValue::Kind::JsonBool, .boolean = true}));
  EXPECT_FALSE(*parse_bool_value("share", OptionValue{.kind = OptionValue::Kind::JsonBool, .boolean = false}));
}

TEST(BoolValue, parse_bool_text_is_case_sensitive) {
  EXPECT_EQ(parse_bool_text("on"), true);
  EXPECT_EQ(parse_bool_text("n"), false);
  EXPECT_EQ(parse_bool_text("ON"), std::nullopt);
  EXPECT_EQ(parse_bool_text("True"), std::nullopt);
  EXPECT_EQ(parse_bool_text(""), std::nullopt);
  EXPECT_EQ(parse_bool_text("1"), std::nullopt);
}

TEST(UintValue, decimal_hex_octal_and_sign_as_strtoull_reads_them) {
  // QEMU 7.2 -device ivshmem-doorbell,vectors=X accepts all of these.
  struct Row {
    const char* text;
    uint64_t value;
  } rows[] = {{"0", 0}, {"1", 1}, {"4294967295", 4294967295u}, {"0x10", 16}, {"010", 8},
              {"+1", 1}, {" 1", 1}, {"-0", 0}};
  for (const Row& row : rows) {
    auto r = parse_uint_value("vectors", text(row.text), UINT32_MAX, "uint32_t");
    ASSERT_TRUE(r.ok()) << row.text << ": " << r.error().message();
    EXPECT_EQ(*r, row.value) << row.text;
  }
}

TEST(UintValue, uint64_range_accepts_the_maximum) {
  auto r = parse_uint_value("x", text("18446744073709551615"), UINT64_MAX, "uint64_t");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, UINT64_MAX);
}

TEST(UintValue, json_integers_are_accepted_within_range) {
  EXPECT_EQ(*parse_uint_value("vectors", OptionValue{.kind = OptionValue::Kind::JsonUInt, .uinteger = 2},
                              UINT32_MAX, "uint32_t"),
            2u);
  EXPECT_EQ(*parse_uint_value("vectors", OptionValue{.kind = OptionValue::Kind::JsonInt, .integer = 3},
                              UINT32_MAX, "uint32_t"),
            3u);
}

TEST(IntValue, signed_text_and_json_within_range) {
  EXPECT_EQ(*parse_int_value("x", text("-5"), -10, 10, "int32_t"), -5);
  EXPECT_EQ(*parse_int_value("x", text("0x7"), -10, 10, "int32_t"), 7);
  EXPECT_EQ(*parse_int_value("x", OptionValue{.kind = OptionValue::Kind::JsonInt, .integer = -1}, -10, 10, "int32_t"),
            -1);
  EXPECT_EQ(*parse_int_value("x", OptionValue{.kind = OptionValue::Kind::JsonUInt, .uinteger = 9}, -10, 10, "int32_t"),
            9);
}

TEST(IntValue, out_of_range_names_the_type) {
  EXPECT_EQ(parse_int_value("x", text("11"), -10, 10, "int32_t").error().message(), "Parameter 'x' expects int32_t");
  EXPECT_EQ(parse_int_value("x", text("-11"), -10, 10, "int32_t").error().message(), "Parameter 'x' expects int32_t");
  EXPECT_EQ(parse_int_value("x", OptionValue{.kind = OptionValue::Kind::JsonUInt, .uinteger = UINT64_MAX}, INT64_MIN,
                            INT64_MAX, "int64_t")
                .error()
                .message(),
            "Parameter 'x' expects int64_t");
}

TEST(IntValue, non_numbers_expect_integer) {
  EXPECT_EQ(parse_int_value("x", text("abc"), -10, 10, "int32_t").error().message(), "Parameter 'x' expects integer");
  EXPECT_EQ(parse_int_value("x", text(""), -10, 10, "int32_t").error().message(), "Parameter 'x' expects integer");
  EXPECT_EQ(parse_int_value("x", OptionValue{.kind = OptionValue::Kind::JsonString, .text = "1"}, -10, 10, "int32_t")
                .error()
                .message(),
            "Parameter 'x' expects int64");
}

TEST(SizeValue, text_uses_size_suffixes_and_json_takes_numbers) {
  EXPECT_EQ(*parse_size_value("size", text("4M")), 4u << 20);
  EXPECT_EQ(*parse_size_value("size", text("1.5M")), 1572864u);
  EXPECT_EQ(*parse_size_value("size", text("18446744073709551615")), UINT64_MAX);
  EXPECT_EQ(*parse_size_value("size", OptionValue{.kind = OptionValue::Kind::JsonUInt, .uinteger = 4194304}), 4194304u);
}

TEST(StringValue, text_and_json_strings_are_accepted) {
  EXPECT_EQ(*parse_string_value("chardev", text("c0")), "c0");
  EXPECT_EQ(*parse_string_value("chardev", OptionValue{.kind = OptionValue::Kind::JsonString, .text = "c1"}), "c1");
  EXPECT_EQ(*parse_string_value("chardev", text("")), "");
}

TEST(EnumValue, returns_the_index_of_the_spelling) {
  static constexpr std::array<std::string_view, 4> kPolicy = {"default", "preferred", "bind", "interleave"};
  EXPECT_EQ(*parse_enum_value("policy", text("bind"), kPolicy), 2u);
  EXPECT_EQ(*parse_enum_value("policy", OptionValue{.kind = OptionValue::Kind::JsonString, .text = "default"}, kPolicy),
            0u);
}

TEST(OnOffAutoValue, accepts_on_off_auto_only) {
  EXPECT_EQ(*parse_on_off_auto_value("master", text("on")), OnOffAuto::On);
  EXPECT_EQ(*parse_on_off_auto_value("master", text("off")), OnOffAuto::Off);
  EXPECT_EQ(*parse_on_off_auto_value("master", text("auto")), OnOffAuto::Auto);
  EXPECT_EQ(*parse_on_off_auto_value("master", OptionValue{.kind = OptionValue::Kind::JsonString, .text = "on"}),
            OnOffAuto::On);
}

TEST(OnOffAutoValue, to_string_round_trips) {
  for (OnOffAuto v : {OnOffAuto::Auto, OnOffAuto::On, OnOffAuto::Off})
    EXPECT_EQ(*parse_on_off_auto_value("x", text(std::string(to_string(v)))), v);
  EXPECT_EQ(to_string(OnOffAuto::Auto), "auto");
}

TEST(OptionValueDisplay, shows_values_as_typed) {
  EXPECT_EQ(text("0x20").display(), "0x20");
  EXPECT_EQ((OptionValue{.kind = OptionValue::Kind::JsonBool, .boolean = true}).display(), "true");
  EXPECT_EQ((OptionValue{.kind = OptionValue::Kind::JsonInt, .integer = -3}).display(), "-3");
  EXPECT_EQ((OptionValue{.kind = OptionValue::Kind::JsonNull}).display(), "null");
}

// ---------------------------------------------------------------------------------------------
// Bad inputs, end to end: the option argument as typed, through the option parser and the
// property's type, to QEMU 7.2's exact message (the text after "qemu-system-x86_64: LOCATION: ").

enum class Type { Bool, Size, Uint32, OnOffAutoT, String, Policy, Id };

struct BadInput {
  const char* option;    // -object/-device argument
  const char* property;  // the property whose value is wrong
  Type type;
  const char* message;
};

const BadInput kBadInputs[] = {
    // Booleans (-object memory-backend-ram / -device ivshmem-doorbell).
    {"memory-backend-ram,id=m,size=1M,share=ON", "share", Type::Bool, "Parameter 'share' expects 'on' or 'off'"},
    {"memory-backend-ram,id=m,size=1M,share=1", "share", Type::Bool, "Parameter 'share' expects 'on' or 'off'"},
    {"memory-backend-ram,id=m,size=1M,share=", "share", Type::Bool, "Parameter 'share' expects 'on' or 'off'"},
    {"memory-backend-ram,id=m,size=1M,prealloc=yes,prealloc=maybe", "prealloc", Type::Bool,
     "Parameter 'prealloc' expects 'on' or 'off'"},
    {"ivshmem-doorbell,ioeventfd=ON", "ioeventfd", Type::Bool, "Parameter 'ioeventfd' expects 'on' or 'off'"},
    {"ivshmem-doorbell,ioeventfd=1", "ioeventfd", Type::Bool, "Parameter 'ioeventfd' expects 'on' or 'off'"},
    // Sizes.
    {"memory-backend-ram,id=m,size=1Q", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=16E", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1e3", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1KiB", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1MB", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=18446744073709551616", "size", Type::Size,
     "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=0x10000000000000000", "size", Type::Size,
     "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=-1", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=-0", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1.5", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1.5B", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=.5M", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1..5M", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1.5kk", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=0x1.8", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=0x", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=00x10", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=inf", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1M ", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1M,,", "size", Type::Size, "Parameter 'size' expects a size value"},
    {"memory-backend-ram,id=m,size=1M,size=1Q", "size", Type::Size, "Parameter 'size' expects a size value"},
    // Integers (-device ivshmem-doorbell, vectors is uint32).
    {"ivshmem-doorbell,vectors=abc", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=1k", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=1.5", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=08", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=0x", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=1 ", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=18446744073709551616", "vectors", Type::Uint32, "Parameter 'vectors' expects integer"},
    {"ivshmem-doorbell,vectors=-1", "vectors", Type::Uint32, "Parameter 'vectors' expects uint32_t"},
    {"ivshmem-doorbell,vectors=4294967296", "vectors", Type::Uint32, "Parameter 'vectors' expects uint32_t"},
    // Enums.
    {"ivshmem-plain,master=true", "master", Type::OnOffAutoT, "Parameter 'master' does not accept value 'true'"},
    {"ivshmem-plain,master=ON", "master", Type::OnOffAutoT, "Parameter 'master' does not accept value 'ON'"},
    {"memory-backend-ram,id=m,size=1M,policy=bogus", "policy", Type::Policy,
     "Parameter 'policy' does not accept value 'bogus'"},
    // Identifiers.
    {"memory-backend-ram,id=1m,size=1M", "id", Type::Id, "Parameter 'id' expects an identifier"},
    {"memory-backend-ram,id=,size=1M", "id", Type::Id, "Parameter 'id' expects an identifier"},
    {"memory-backend-ram,id=a b,size=1M", "id", Type::Id, "Parameter 'id' expects an identifier"},
    {"memory-backend-ram,id=_a,size=1M", "id", Type::Id, "Parameter 'id' expects an identifier"},
    // JSON form: wrong JSON types.
    {R"({"driver":"ivshmem-doorbell","vectors":"2"})", "vectors", Type::Uint32, "Parameter 'vectors' expects uint64"},
    {R"({"driver":"ivshmem-doorbell","vectors":true})", "vectors", Type::Uint32, "Parameter 'vectors' expects uint64"},
    {R"({"driver":"ivshmem-doorbell","vectors":1.5})", "vectors", Type::Uint32, "Parameter 'vectors' expects uint64"},
    {R"({"driver":"ivshmem-doorbell","vectors":-1})", "vectors", Type::Uint32, "Parameter 'vectors' expects uint32_t"},
    {R"({"driver":"ivshmem-doorbell","vectors":4294967296})", "vectors", Type::Uint32,
     "Parameter 'vectors' expects uint32_t"},
    {R"({"driver":"ivshmem-doorbell","ioeventfd":"on"})", "ioeventfd", Type::Bool,
     "Invalid parameter type for 'ioeventfd', expected: boolean"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":1048576,"share":1})", "share", Type::Bool,
     "Invalid parameter type for 'share', expected: boolean"},
    {R"({"driver":"ivshmem-doorbell","chardev":5})", "chardev", Type::String,
     "Invalid parameter type for 'chardev', expected: string"},
    {R"({"qom-type":"memory-backend-ram","id":5,"size":1048576})", "id", Type::Id,
     "Invalid parameter type for 'id', expected: string"},
    {R"({"driver":"ivshmem-plain","master":true})", "master", Type::OnOffAutoT,
     "Invalid parameter type for 'master', expected: string"},
    {R"({"driver":"ivshmem-plain","master":1})", "master", Type::OnOffAutoT,
     "Invalid parameter type for 'master', expected: string"},
    {R"({"driver":"ivshmem-plain","master":"true"})", "master", Type::OnOffAutoT,
     "Parameter 'master' does not accept value 'true'"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":"1M"})", "size", Type::Size,
     "Parameter 'size' expects uint64"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":null})", "size", Type::Size,
     "Parameter 'size' expects uint64"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":[1]})", "size", Type::Size,
     "Parameter 'size' expects uint64"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":1.0})", "size", Type::Size,
     "Parameter 'size' expects uint64"},
    {R"({"qom-type":"memory-backend-ram","id":"m","size":18446744073709551616})", "size", Type::Size,
     "Parameter 'size' expects uint64"},
};

// The message the property parser gives, or "" when the value is accepted.
std::string property_error(const OptionValue& v, std::string_view name, Type type) {
  static constexpr std::array<std::string_view, 4> kPolicy = {"default", "preferred", "bind", "interleave"};
  switch (type) {
    case Type::Bool: {
      auto r = parse_bool_value(name, v);
      return r.ok() ? "" : r.error().message();
    }
    case Type::Size: {
      auto r = parse_size_value(name, v);
      return r.ok() ? "" : r.error().message();
    }
    case Type::Uint32: {
      auto r = parse_uint_value(name, v, UINT32_MAX, "uint32_t");
      return r.ok() ? "" : r.error().message();
    }
    case Type::OnOffAutoT: {
      auto r = parse_on_off_auto_value(name, v);
      return r.ok() ? "" : r.error().message();
    }
    case Type::String: {
      auto r = parse_string_value(name, v);
      return r.ok() ? "" : r.error().message();
    }
    case Type::Policy: {
      auto r = parse_enum_value(name, v, kPolicy);
      return r.ok() ? "" : r.error().message();
    }
    case Type::Id: {
      auto r = parse_string_value(name, v);
      if (!r.ok()) return r.error().message();
      if (is_valid_id(*r)) return "";
      Error e = invalid_id_error(name);
      EXPECT_EQ(e.hint(), "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
      return e.message();
    }
  }
  return "?";
}

TEST(BadInputs, each_gives_qemu_7_2_message) {
  EXPECT_GE(std::size(kBadInputs), 30u);
  for (const BadInput& row : kBadInputs) {
    std::string_view option = row.option;
    std::string_view implied = option.starts_with("memory-backend") ? "qom-type" : "driver";
    auto list = parse_option_argument(option, implied);
    ASSERT_TRUE(list.ok()) << option << ": " << list.error().message();
    const OptionValue* v = list->find(row.property);
    ASSERT_NE(v, nullptr) << option;
    EXPECT_EQ(property_error(*v, row.property, row.type), row.message) << option;
  }
}

TEST(BadInputs, the_same_values_spelled_correctly_are_accepted) {
  struct Good {
    const char* option;
    const char* property;
    Type type;
  } rows[] = {
      {"memory-backend-ram,id=m,size=1M,share=on", "share", Type::Bool},
      {"memory-backend-ram,id=m,size=1Q,size=1M", "size", Type::Size},
      {"memory-backend-ram,id=m,size=1.5M", "size", Type::Size},
      {"memory-backend-ram,id=m,size=18446744073709551615", "size", Type::Size},
      {"ivshmem-doorbell,vectors=4294967295", "vectors", Type::Uint32},
      {"ivshmem-plain,master=auto", "master", Type::OnOffAutoT},
      {"memory-backend-ram,id=a-b.c_d,size=1M", "id", Type::Id},
      {R"({"driver":"ivshmem-doorbell","vectors":2})", "vectors", Type::Uint32},
      {R"({"driver":"ivshmem-doorbell","ioeventfd":false})", "ioeventfd", Type::Bool},
      {R"({"qom-type":"memory-backend-ram","id":"m","size":1048576})", "size", Type::Size},
      {R"({"driver":"ivshmem-plain","master":"on"})", "master", Type::OnOffAutoT},
  };
  for (const Good& row : rows) {
    std::string_view option = row.option;
    std::string_view implied = option.starts_with("memory-backend") ? "qom-type" : "driver";
    auto list = parse_option_argument(option, implied);
    ASSERT_TRUE(list.ok()) << option;
    const OptionValue* v = list->find(row.property);
    ASSERT_NE(v, nullptr) << option;
    EXPECT_EQ(property_error(*v, row.property, row.type), "") << option;
  }
}

}  // namespace
}  // namespace nahanni
