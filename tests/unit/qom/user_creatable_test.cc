// -object and object-add/object-del: the order of checks and QEMU's exact messages.
#include <gtest/gtest.h>

#include "qom/type.h"
#include "qom/user-creatable.h"
#include "test-types.h"
#include "util/keyval.h"

namespace nahanni {
namespace {

Result<Object*> add(std::string_view arg, OptionSource source = OptionSource::CommandLine) {
  auto opts = parse_option_argument(arg, "qom-type");
  if (!opts) return opts.error();
  return user_creatable_add(std::move(*opts), source);
}

std::string add_error(std::string_view arg, OptionSource source = OptionSource::CommandLine) {
  auto r = add(arg, source);
  return r ? std::string("(ok)") : r.error().message();
}

class UserCreatableTest : public ::testing::Test {
 protected:
  void TearDown() override {
    std::vector<std::string> ids;
    for (auto& [name, child] : objects_container().children()) ids.push_back(name);
    for (auto& id : ids) (void)objects_container().remove_child(id);
  }
};

TEST_F(UserCreatableTest, creates_the_object_under_objects_with_its_properties) {
  auto r = add("test-creatable,id=t1,value=5,text=hello");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto* obj = dynamic_cast<test::TestCreatable*>(*r);
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(obj->path(), "/objects/t1");
  EXPECT_EQ(obj->name(), "t1");
  EXPECT_EQ(obj->value_, 5u);
  EXPECT_EQ(obj->text_, "hello");
  EXPECT_EQ(obj->completions_, 1);
  EXPECT_EQ(find_user_object("t1"), obj);
}

TEST_F(UserCreatableTest, json_form_creates_the_same_object) {
  auto r = add(R"({"qom-type":"test-creatable","id":"t1","value":7,"text":"x,y"})");
  ASSERT_TRUE(r.ok()) << r.error().message();
  auto* obj = static_cast<test::TestCreatable*>(*r);
  EXPECT_EQ(obj->value_, 7u);
  EXPECT_EQ(obj->text_, "x,y");
}

TEST_F(UserCreatableTest, missing_qom_type) {
  EXPECT_EQ(add_error("id=t1,value=1"), "Parameter 'qom-type' is missing");
}

TEST_F(UserCreatableTest, type_that_is_unknown_abstract_or_not_creatable_is_refused_by_name) {
  EXPECT_EQ(add_error("nosuchtype,id=x"), "Parameter 'qom-type' does not accept value 'nosuchtype'");
  EXPECT_EQ(add_error("memory-backend,id=x,size=1M"), "Parameter 'qom-type' does not accept value 'memory-backend'");
  EXPECT_EQ(add_error("test-plain-object,id=x"), "Parameter 'qom-type' does not accept value 'test-plain-object'");
  EXPECT_EQ(add_error("test-hidden-creatable,id=x"),
            "Parameter 'qom-type' does not accept value 'test-hidden-creatable'");
  EXPECT_EQ(add_error("test-base,id=x"), "Parameter 'qom-type' does not accept value 'test-base'");
}

TEST_F(UserCreatableTest, type_is_checked_before_id) {
  EXPECT_EQ(add_error("nosuchtype"), "Parameter 'qom-type' does not accept value 'nosuchtype'");
}

TEST_F(UserCreatableTest, missing_id) { EXPECT_EQ(add_error("test-creatable,value=1"), "Parameter 'id' is missing"); }

TEST_F(UserCreatableTest, invalid_id_has_qemus_hint) {
  auto r = add("test-creatable,id=1x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message(), "Parameter 'id' expects an identifier");
  EXPECT_EQ(r.error().hint(), "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
}

TEST_F(UserCreatableTest, duplicate_id_on_the_command_line_and_in_qmp) {
  ASSERT_TRUE(add("test-creatable,id=m").ok());
  EXPECT_EQ(add_error("test-creatable,id=m"), "Duplicate ID 'm' for object");
  EXPECT_EQ(add_error(R"({"qom-type":"test-creatable","id":"m"})", OptionSource::Qmp),
            "attempt to add duplicate property 'm' to object (type 'container')");
}

TEST_F(UserCreatableTest, unknown_parameter_on_the_command_line) {
  EXPECT_EQ(add_error("test-creatable,id=t1,foo=1"), "Invalid parameter 'foo'");
  EXPECT_EQ(find_user_object("t1"), nullptr);
}

TEST_F(UserCreatableTest, unknown_parameter_in_json_and_qmp_is_unexpected) {
  // QEMU 7.2: -object '{"qom-type":...,"foo":1}' and object-add both say "is unexpected".
  EXPECT_EQ(add_error(R"({"qom-type":"test-creatable","id":"t1","foo":1})"), "Parameter 'foo' is unexpected");
  EXPECT_EQ(add_error(R"({"qom-type":"test-creatable","id":"t1","foo":1})", OptionSource::Qmp),
            "Parameter 'foo' is unexpected");
}

TEST_F(UserCreatableTest, value_errors_come_before_unknown_parameters) {
  // QEMU visits the known members first: "foo=1,value=x" reports the value.
  EXPECT_EQ(add_error("test-creatable,id=t1,foo=1,value=x"), "Parameter 'value' expects integer");
  EXPECT_EQ(add_error("test-creatable,id=t1,value=x,foo=1"), "Parameter 'value' expects integer");
}

TEST_F(UserCreatableTest, property_error_leaves_nothing_behind) {
  EXPECT_EQ(add_error("test-creatable,id=t1,fail-complete=maybe"), "Parameter 'fail-complete' expects 'on' or 'off'");
  EXPECT_EQ(find_user_object("t1"), nullptr);
}

TEST_F(UserCreatableTest, complete_failure_leaves_nothing_behind) {
  EXPECT_EQ(add_error("test-creatable,id=t1,fail-complete=on"), "test-creatable refused to complete");
  EXPECT_EQ(find_user_object("t1"), nullptr);
  // The id is free again.
  EXPECT_TRUE(add("test-creatable,id=t1").ok());
}

TEST_F(UserCreatableTest, repeated_keys_the_last_wins) {
  auto r = add("test-creatable,id=t1,value=1,value=2");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(static_cast<test::TestCreatable*>(*r)->value_, 2u);
}

TEST_F(UserCreatableTest, del_removes_the_object) {
  ASSERT_TRUE(add("test-creatable,id=t1").ok());
  ASSERT_TRUE(user_creatable_del("t1").ok());
  EXPECT_EQ(find_user_object("t1"), nullptr);
}

TEST_F(UserCreatableTest, del_of_an_unknown_id) {
  Status st = user_creatable_del("zz");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "object 'zz' not found");
}

TEST_F(UserCreatableTest, del_of_an_object_in_use_is_refused) {
  auto r = add("test-creatable,id=m1");
  ASSERT_TRUE(r.ok());
  static_cast<test::TestCreatable*>(*r)->busy_ = true;
  Status st = user_creatable_del("m1");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "object 'm1' is in use, can not be deleted");
  EXPECT_NE(find_user_object("m1"), nullptr);
  static_cast<test::TestCreatable*>(*r)->busy_ = false;
  EXPECT_TRUE(user_creatable_del("m1").ok());
}

TEST_F(UserCreatableTest, list_help_names_concrete_creatable_types_only) {
  std::string help = user_creatable_list_help();
  EXPECT_EQ(help.rfind("List of user creatable objects:\n", 0), 0u);
  EXPECT_NE(help.find("\n  test-creatable\n"), std::string::npos);
  EXPECT_NE(help.find("\n  memory-backend-ram\n"), std::string::npos);
  EXPECT_NE(help.find("\n  memory-backend-file\n"), std::string::npos);
  EXPECT_NE(help.find("\n  memory-backend-memfd\n"), std::string::npos);
  EXPECT_EQ(help.find("  memory-backend\n"), std::string::npos);
  EXPECT_EQ(help.find("test-hidden-creatable"), std::string::npos);
  EXPECT_EQ(help.find("test-plain-object"), std::string::npos);
  EXPECT_EQ(help.find("test-derived"), std::string::npos);
}

}  // namespace
}  // namespace nahanni
