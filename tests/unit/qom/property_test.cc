// Typed properties bound to members: parsing with QEMU's rules and messages, reading back,
// links resolved at once.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "qom/type.h"
#include "qom/user-creatable.h"
#include "test-types.h"

namespace nahanni {
namespace {

OptionValue text(std::string s) { return OptionValue::from_text(std::move(s)); }
OptionValue json_uint(uint64_t v) {
  OptionValue o;
  o.kind = OptionValue::Kind::JsonUInt;
  o.uinteger = v;
  return o;
}
OptionValue json_int(int64_t v) {
  OptionValue o;
  o.kind = OptionValue::Kind::JsonInt;
  o.integer = v;
  return o;
}
OptionValue json_bool(bool b) {
  OptionValue o;
  o.kind = OptionValue::Kind::JsonBool;
  o.boolean = b;
  return o;
}
OptionValue json_string(std::string s) {
  OptionValue o;
  o.kind = OptionValue::Kind::JsonString;
  o.text = std::move(s);
  return o;
}

class PropertyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    owned_ = TypeRegistry::instance().create("test-derived");
    obj_ = static_cast<test::TestDerived*>(owned_.get());
  }
  std::string set_error(std::string_view name, const OptionValue& v) {
    Status st = obj_->set_property(name, v);
    return st ? std::string("(ok)") : st.error().message();
  }
  nlohmann::json get(std::string_view name) {
    auto r = obj_->get_property(name);
    EXPECT_TRUE(r.ok()) << name;
    return r.ok() ? *r : nlohmann::json();
  }
  std::unique_ptr<Object> owned_;
  test::TestDerived* obj_ = nullptr;
};

TEST_F(PropertyTest, members_start_at_their_defaults) {
  EXPECT_EQ(get("count"), 7);  // the derived class's initializer
  EXPECT_EQ(get("flag"), false);
  EXPECT_EQ(get("label"), "");
  EXPECT_EQ(get("mode"), "auto");
  EXPECT_EQ(get("peer"), "");
  EXPECT_EQ(get("type"), "test-derived");
}

TEST_F(PropertyTest, bool_accepts_every_qemu_spelling) {
  for (const char* on : {"on", "yes", "true", "y"}) {
    obj_->flag_ = false;
    ASSERT_TRUE(obj_->set_property("flag", text(on)).ok()) << on;
    EXPECT_TRUE(obj_->flag_) << on;
  }
  for (const char* off : {"off", "no", "false", "n"}) {
    obj_->flag_ = true;
    ASSERT_TRUE(obj_->set_property("flag", text(off)).ok()) << off;
    EXPECT_FALSE(obj_->flag_) << off;
  }
  EXPECT_EQ(get("flag"), false);
}

TEST_F(PropertyTest, bool_rejects_other_words_naming_only_on_and_off) {
  EXPECT_EQ(set_error("flag", text("maybe")), "Parameter 'flag' expects 'on' or 'off'");
  EXPECT_EQ(set_error("flag", text("ON")), "Parameter 'flag' expects 'on' or 'off'");
  EXPECT_EQ(set_error("flag", text("")), "Parameter 'flag' expects 'on' or 'off'");
}

TEST_F(PropertyTest, bool_from_json_must_be_a_json_boolean) {
  ASSERT_TRUE(obj_->set_property("flag", json_bool(true)).ok());
  EXPECT_TRUE(obj_->flag_);
  EXPECT_EQ(set_error("flag", json_string("on")), "Invalid parameter type for 'flag', expected: boolean");
}

TEST_F(PropertyTest, uint32_parses_decimal_and_hex) {
  ASSERT_TRUE(obj_->set_property("count", text("42")).ok());
  EXPECT_EQ(obj_->count_, 42u);
  ASSERT_TRUE(obj_->set_property("count", text("0x10")).ok());
  EXPECT_EQ(obj_->count_, 16u);
  ASSERT_TRUE(obj_->set_property("count", text("4294967295")).ok());
  EXPECT_EQ(obj_->count_, 4294967295u);
  EXPECT_EQ(get("count"), 4294967295u);
}

TEST_F(PropertyTest, uint_out_of_range_names_the_c_type) {
  EXPECT_EQ(set_error("count", text("4294967296")), "Parameter 'count' expects uint32_t");
  EXPECT_EQ(set_error("small", text("256")), "Parameter 'small' expects uint8_t");
  EXPECT_EQ(set_error("mid", text("65536")), "Parameter 'mid' expects uint16_t");
  EXPECT_EQ(set_error("count", json_uint(uint64_t{1} << 32)), "Parameter 'count' expects uint32_t");
  EXPECT_EQ(set_error("count", json_int(-1)), "Parameter 'count' expects uint32_t");
  ASSERT_TRUE(obj_->set_property("small", text("255")).ok());
  EXPECT_EQ(obj_->small_, 255);
}

TEST_F(PropertyTest, uint_rejects_words) {
  EXPECT_EQ(set_error("count", text("many")), "Parameter 'count' expects integer");
  // A failed set leaves the member alone.
  EXPECT_EQ(obj_->count_, 7u);
}

TEST_F(PropertyTest, uint64_takes_the_full_range) {
  ASSERT_TRUE(obj_->set_property("big", text("18446744073709551615")).ok());
  EXPECT_EQ(obj_->big_, UINT64_MAX);
  ASSERT_TRUE(obj_->set_property("big", json_uint(5)).ok());
  EXPECT_EQ(obj_->big_, 5u);
}

TEST_F(PropertyTest, size_accepts_suffixes) {
  ASSERT_TRUE(obj_->set_property("bytes", text("4M")).ok());
  EXPECT_EQ(obj_->bytes_, 4u << 20);
  ASSERT_TRUE(obj_->set_property("bytes", text("1k")).ok());
  EXPECT_EQ(obj_->bytes_, 1024u);
  ASSERT_TRUE(obj_->set_property("bytes", json_uint(1048576)).ok());
  EXPECT_EQ(obj_->bytes_, 1048576u);
  EXPECT_EQ(get("bytes"), 1048576u);
}

TEST_F(PropertyTest, size_errors_are_qemus) {
  EXPECT_EQ(set_error("bytes", text("1Q")), "Parameter 'bytes' expects a size value");
  EXPECT_EQ(set_error("bytes", text("-1")), "Parameter 'bytes' expects a size value");
  // The JSON form wants a number: "1M" as a JSON string is refused as QEMU does.
  EXPECT_EQ(set_error("bytes", json_string("1M")), "Parameter 'bytes' expects uint64");
}

TEST_F(PropertyTest, string_takes_text_and_json_strings) {
  ASSERT_TRUE(obj_->set_property("label", text("a,b")).ok());
  EXPECT_EQ(obj_->label_, "a,b");
  ASSERT_TRUE(obj_->set_property("label", json_string("x y")).ok());
  EXPECT_EQ(get("label"), "x y");
  EXPECT_EQ(set_error("label", json_uint(3)), "Invalid parameter type for 'label', expected: string");
}

TEST_F(PropertyTest, on_off_auto_is_an_enum_not_a_bool) {
  ASSERT_TRUE(obj_->set_property("mode", text("on")).ok());
  EXPECT_EQ(obj_->mode_, OnOffAuto::On);
  ASSERT_TRUE(obj_->set_property("mode", text("off")).ok());
  EXPECT_EQ(get("mode"), "off");
  ASSERT_TRUE(obj_->set_property("mode", text("auto")).ok());
  EXPECT_EQ(obj_->mode_, OnOffAuto::Auto);
  EXPECT_EQ(set_error("mode", text("true")), "Parameter 'mode' does not accept value 'true'");
  EXPECT_EQ(set_error("mode", text("yes")), "Parameter 'mode' does not accept value 'yes'");
}

TEST_F(PropertyTest, unknown_property_names_type_and_property) {
  EXPECT_EQ(set_error("nope", text("1")), "Property 'test-derived.nope' not found");
  auto r = obj_->get_property("nope");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Property 'test-derived.nope' not found");
}

class LinkTest : public PropertyTest {
 protected:
  void TearDown() override {
    for (const char* id : {"peer1", "other"}) (void)objects_container().remove_child(id);
  }
};

TEST_F(LinkTest, link_resolves_a_user_object_by_id) {
  auto target = TypeRegistry::instance().create("test-derived");
  Object* added = objects_container().add_child("peer1", std::move(target));
  ASSERT_TRUE(obj_->set_property("peer", text("peer1")).ok());
  EXPECT_EQ(obj_->peer_, added);
  EXPECT_EQ(get("peer"), "/objects/peer1");
}

TEST_F(LinkTest, link_resolves_an_absolute_path) {
  Object* added = objects_container().add_child("peer1", TypeRegistry::instance().create("test-derived"));
  ASSERT_TRUE(obj_->set_property("peer", text("/objects/peer1")).ok());
  EXPECT_EQ(obj_->peer_, added);
}

TEST_F(LinkTest, link_to_a_missing_object_is_device_not_found) {
  Status st = obj_->set_property("peer", text("nope"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "Device 'nope' not found");
  EXPECT_EQ(st.error().error_class(), Error::Class::DeviceNotFound);
  EXPECT_EQ(obj_->peer_, nullptr);
}

TEST_F(LinkTest, link_to_an_object_of_another_type_names_the_expected_type) {
  objects_container().add_child("other", TypeRegistry::instance().create("test-creatable"));
  EXPECT_EQ(set_error("peer", text("other")), "Invalid parameter type for 'peer', expected: test-base");
}

TEST_F(LinkTest, empty_link_clears_it) {
  objects_container().add_child("peer1", TypeRegistry::instance().create("test-derived"));
  ASSERT_TRUE(obj_->set_property("peer", text("peer1")).ok());
  ASSERT_TRUE(obj_->set_property("peer", text("")).ok());
  EXPECT_EQ(obj_->peer_, nullptr);
  EXPECT_EQ(get("peer"), "");
}

}  // namespace
}  // namespace nahanni
