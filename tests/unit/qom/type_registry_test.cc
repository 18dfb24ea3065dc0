// The type registry: inheritance, interfaces, property lookup and help text.
#include <gtest/gtest.h>

#include <algorithm>

#include "qom/type.h"
#include "qom/user-creatable.h"
#include "test-types.h"

namespace nahanni {
namespace {

TypeRegistry& registry() { return TypeRegistry::instance(); }

TEST(TypeRegistry, root_type_object_is_registered_and_abstract) {
  const TypeInfo* t = registry().find("object");
  ASSERT_NE(t, nullptr);
  EXPECT_TRUE(t->abstract);
  EXPECT_TRUE(t->parent.empty());
}

TEST(TypeRegistry, find_unknown_type_is_null) { EXPECT_EQ(registry().find("no-such-type"), nullptr); }

TEST(TypeRegistry, create_gives_an_object_of_that_type) {
  auto obj = registry().create("test-derived");
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(obj->type_name(), "test-derived");
  EXPECT_NE(dynamic_cast<test::TestDerived*>(obj.get()), nullptr);
  EXPECT_EQ(obj->parent(), nullptr);
  EXPECT_EQ(obj->path(), "/");
}

TEST(TypeRegistry, create_refuses_abstract_and_unknown_types) {
  EXPECT_EQ(registry().create("test-base"), nullptr);
  EXPECT_EQ(registry().create("object"), nullptr);
  EXPECT_EQ(registry().create("no-such-type"), nullptr);
}

TEST(TypeRegistry, is_a_follows_parents_and_interfaces) {
  EXPECT_TRUE(registry().is_a("test-derived", "test-derived"));
  EXPECT_TRUE(registry().is_a("test-derived", "test-base"));
  EXPECT_TRUE(registry().is_a("test-derived", "object"));
  // The interface is declared on the parent and inherited.
  EXPECT_TRUE(registry().is_a("test-derived", test::kTestInterface));
  EXPECT_TRUE(registry().is_a("test-creatable", kUserCreatable));
  EXPECT_FALSE(registry().is_a("test-creatable", "test-base"));
  EXPECT_FALSE(registry().is_a("test-base", "test-derived"));
  EXPECT_FALSE(registry().is_a("no-such-type", "object"));
}

TEST(TypeRegistry, object_is_a_uses_its_type) {
  auto obj = registry().create("test-derived");
  EXPECT_TRUE(obj->is_a("test-base"));
  EXPECT_TRUE(obj->is_a(test::kTestInterface));
  EXPECT_FALSE(obj->is_a(kUserCreatable));
}

TEST(TypeRegistry, properties_of_lists_ancestors_first_and_overrides_in_place) {
  auto props = registry().properties_of("test-derived");
  std::vector<std::string> names;
  for (auto* p : props) names.push_back(p->name);
  EXPECT_EQ(names, (std::vector<std::string>{"flag", "count", "label", "big", "bytes", "mode", "small", "mid", "peer"}));
  // "count" is the derived definition (its own default and description).
  auto count = std::find_if(props.begin(), props.end(), [](auto* p) { return p->name == "count"; });
  EXPECT_EQ((*count)->default_value, "7");
  EXPECT_EQ((*count)->description, "how many");
}

TEST(TypeRegistry, find_property_prefers_the_most_derived_definition) {
  const PropertyInfo* derived = registry().find_property("test-derived", "count");
  const PropertyInfo* base = registry().find_property("test-base", "count");
  ASSERT_NE(derived, nullptr);
  ASSERT_NE(base, nullptr);
  EXPECT_EQ(derived->default_value, "7");
  EXPECT_EQ(base->default_value, "3");
  EXPECT_NE(registry().find_property("test-derived", "flag"), nullptr);
  EXPECT_EQ(registry().find_property("test-base", "big"), nullptr);
  EXPECT_EQ(registry().find_property("test-derived", "nope"), nullptr);
}

TEST(TypeRegistry, property_types_are_named_as_qemu_shows_them) {
  auto type_of = [](std::string_view name) { return registry().find_property("test-derived", name)->type; };
  EXPECT_EQ(type_of("flag"), "bool");
  EXPECT_EQ(type_of("count"), "uint32");
  EXPECT_EQ(type_of("big"), "uint64");
  EXPECT_EQ(type_of("small"), "uint8");
  EXPECT_EQ(type_of("mid"), "uint16");
  EXPECT_EQ(type_of("bytes"), "size");
  EXPECT_EQ(type_of("label"), "str");
  EXPECT_EQ(type_of("mode"), "OnOffAuto");
  EXPECT_EQ(type_of("peer"), "link<test-base>");
}

TEST(TypeRegistry, list_filters_by_interface_sorted_by_name) {
  std::vector<std::string> names;
  for (const TypeInfo* t : registry().list(test::kTestInterface, false)) names.push_back(t->name);
  EXPECT_EQ(names, std::vector<std::string>{"test-derived"});
  names.clear();
  for (const TypeInfo* t : registry().list(test::kTestInterface, true)) names.push_back(t->name);
  EXPECT_EQ(names, (std::vector<std::string>{"test-base", "test-derived"}));
  auto all = registry().list("", true);
  EXPECT_TRUE(std::is_sorted(all.begin(), all.end(), [](auto* a, auto* b) { return a->name < b->name; }));
  EXPECT_TRUE(std::any_of(all.begin(), all.end(), [](auto* t) { return t->name == "object"; }));
}

TEST(TypeRegistry, help_lists_properties_sorted_and_padded_to_column_24) {
  EXPECT_EQ(format_property_help("test-derived", "test-derived options"),
            "test-derived options:\n"
            "  big=<uint64>\n"
            "  bytes=<size>           - Size of the thing (ex: 500M)\n"
            "  count=<uint32>         - how many (default: 7)\n"
            "  flag=<bool>            - on/off (default: false)\n"
            "  label=<str>\n"
            "  mid=<uint16>\n"
            "  mode=<OnOffAuto>       - on/off/auto (default: \"auto\")\n"
            "  peer=<link<test-base>>\n"
            "  small=<uint8>\n");
}

TEST(TypeRegistry, help_with_a_default_and_no_description_keeps_the_dash) {
  // QEMU prints "acpi-index=<uint32>    -  (default: 0)": an empty description still gets " - ".
  EXPECT_EQ(format_property_help("test-base", "test-base options"),
            "test-base options:\n"
            "  count=<uint32>         -  (default: 3)\n"
            "  flag=<bool>            - on/off (default: false)\n"
            "  label=<str>\n");
}

TEST(TypeRegistry, help_for_a_type_without_properties) {
  EXPECT_EQ(format_property_help("object", "object options"), "There are no options for object.\n");
}

}  // namespace
}  // namespace nahanni
