// The composition tree: children, paths, containers, absolute and partial path resolution.
#include <gtest/gtest.h>

#include "qom/type.h"
#include "test-types.h"

namespace nahanni {
namespace {

std::unique_ptr<Object> make() { return TypeRegistry::instance().create("test-derived"); }

class ObjectTreeTest : public ::testing::Test {
 protected:
  void TearDown() override {
    (void)object_root().remove_child("tree-test");
    (void)objects_container().remove_child("tree-obj");
  }
  Object& scratch() { return *object_root().container("tree-test"); }
};

TEST_F(ObjectTreeTest, root_is_a_container_at_slash) {
  EXPECT_EQ(object_root().path(), "/");
  EXPECT_EQ(object_root().type_name(), "container");
  EXPECT_EQ(object_root().parent(), nullptr);
  EXPECT_EQ(&object_root(), &object_root());
}

TEST_F(ObjectTreeTest, objects_container_is_slash_objects) {
  EXPECT_EQ(objects_container().path(), "/objects");
  EXPECT_EQ(objects_container().parent(), &object_root());
  EXPECT_EQ(resolve_path("/objects"), &objects_container());
}

TEST_F(ObjectTreeTest, add_child_sets_name_parent_and_path) {
  Object* c = scratch().add_child("a", make());
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->name(), "a");
  EXPECT_EQ(c->parent(), &scratch());
  EXPECT_EQ(c->path(), "/tree-test/a");
  Object* g = c->add_child("b", make());
  EXPECT_EQ(g->path(), "/tree-test/a/b");
  EXPECT_EQ(scratch().child("a"), c);
  EXPECT_EQ(scratch().child("zz"), nullptr);
}

TEST_F(ObjectTreeTest, add_child_with_a_taken_name_returns_null_and_keeps_the_first) {
  Object* first = scratch().add_child("a", make());
  EXPECT_EQ(scratch().add_child("a", make()), nullptr);
  EXPECT_EQ(scratch().child("a"), first);
  EXPECT_EQ(first->parent(), &scratch());
  EXPECT_EQ(scratch().children().size(), 1u);
}

TEST_F(ObjectTreeTest, remove_child_hands_back_ownership) {
  Object* c = scratch().add_child("a", make());
  std::unique_ptr<Object> owned = scratch().remove_child("a");
  EXPECT_EQ(owned.get(), c);
  EXPECT_EQ(owned->parent(), nullptr);
  EXPECT_EQ(scratch().child("a"), nullptr);
  EXPECT_EQ(scratch().remove_child("a"), nullptr);
}

TEST_F(ObjectTreeTest, container_is_created_once) {
  Object* c1 = scratch().container("sub");
  Object* c2 = scratch().container("sub");
  EXPECT_EQ(c1, c2);
  EXPECT_EQ(c1->type_name(), "container");
  EXPECT_EQ(c1->path(), "/tree-test/sub");
}

TEST_F(ObjectTreeTest, children_are_ordered_by_name) {
  scratch().add_child("b", make());
  scratch().add_child("a", make());
  scratch().add_child("c", make());
  std::vector<std::string> names;
  for (auto& [name, child] : scratch().children()) names.push_back(name);
  EXPECT_EQ(names, (std::vector<std::string>{"a", "b", "c"}));
}

TEST_F(ObjectTreeTest, resolve_absolute_paths) {
  Object* a = scratch().add_child("a", make());
  Object* b = a->add_child("b", make());
  EXPECT_EQ(resolve_path("/"), &object_root());
  EXPECT_EQ(resolve_path("/tree-test/a"), a);
  EXPECT_EQ(resolve_path("/tree-test/a/b"), b);
  EXPECT_EQ(resolve_path("/tree-test//a/"), a);  // empty components are skipped
  EXPECT_EQ(resolve_path("/tree-test/x"), nullptr);
  EXPECT_EQ(resolve_path("/tree-test/a/b/c"), nullptr);
  EXPECT_EQ(resolve_path(""), nullptr);
}

TEST_F(ObjectTreeTest, resolve_partial_path_finds_a_unique_name_anywhere) {
  Object* a = scratch().add_child("a", make());
  Object* deep = a->add_child("unique-leaf", make());
  EXPECT_EQ(resolve_path("unique-leaf"), deep);
  EXPECT_EQ(resolve_path("no-such-leaf"), nullptr);
}

TEST_F(ObjectTreeTest, resolve_partial_path_is_null_when_ambiguous) {
  scratch().container("x")->add_child("twin", make());
  scratch().container("y")->add_child("twin", make());
  EXPECT_EQ(resolve_path("twin"), nullptr);
}

TEST_F(ObjectTreeTest, find_user_object_looks_only_under_objects) {
  Object* o = objects_container().add_child("tree-obj", make());
  EXPECT_EQ(find_user_object("tree-obj"), o);
  scratch().add_child("elsewhere", make());
  EXPECT_EQ(find_user_object("elsewhere"), nullptr);
}

TEST_F(ObjectTreeTest, destroying_a_parent_destroys_its_children) {
  Object* a = scratch().add_child("a", make());
  a->add_child("b", make());
  (void)object_root().remove_child("tree-test");
  EXPECT_EQ(resolve_path("/tree-test/a/b"), nullptr);
  EXPECT_EQ(object_root().child("tree-test"), nullptr);
}

}  // namespace
}  // namespace nahanni
