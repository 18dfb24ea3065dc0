// Error values and Result<T>: errors a user can cause travel as values with QEMU's wording.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "util/error.h"

namespace nahanni {
namespace {

TEST(Error, carries_message_with_generic_class_and_no_hint) {
  Error e("Device 'nope' not found");
  EXPECT_EQ(e.message(), "Device 'nope' not found");
  EXPECT_EQ(e.error_class(), Error::Class::Generic);
  EXPECT_EQ(e.hint(), "");
}

TEST(Error, format_builds_the_message) {
  Error e = Error::format("Duplicate ID '{}' for {}", "a", "device");
  EXPECT_EQ(e.message(), "Duplicate ID 'a' for device");
}

TEST(Error, prepend_adds_a_prefix_as_error_prepend_does) {
  Error e = Error("No such file or directory").prepend("can't open backing store /x for guest RAM: ");
  EXPECT_EQ(e.message(), "can't open backing store /x for guest RAM: No such file or directory");
}

TEST(Error, with_class_and_with_hint_chain) {
  Error e = Error("Device 'x' not found").with_class(Error::Class::DeviceNotFound).with_hint("Try 'info qtree'");
  EXPECT_EQ(e.error_class(), Error::Class::DeviceNotFound);
  EXPECT_EQ(e.hint(), "Try 'info qtree'");
  EXPECT_EQ(e.message(), "Device 'x' not found");
}

TEST(Error, explicit_class_in_constructor) {
  EXPECT_EQ(Error("x", Error::Class::CommandNotFound).error_class(), Error::Class::CommandNotFound);
}

TEST(Error, class_names_are_qmp_wire_names) {
  EXPECT_EQ(error_class_name(Error::Class::Generic), "GenericError");
  EXPECT_EQ(error_class_name(Error::Class::CommandNotFound), "CommandNotFound");
  EXPECT_EQ(error_class_name(Error::Class::DeviceNotActive), "DeviceNotActive");
  EXPECT_EQ(error_class_name(Error::Class::DeviceNotFound), "DeviceNotFound");
  EXPECT_EQ(error_class_name(Error::Class::KVMMissingCap), "KVMMissingCap");
}

TEST(Result, holds_a_value) {
  Result<int> r = 42;
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(static_cast<bool>(r));
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
}

TEST(Result, holds_an_error) {
  Result<int> r = Error("bad");
  EXPECT_FALSE(r.ok());
  EXPECT_FALSE(static_cast<bool>(r));
  EXPECT_EQ(r.error().message(), "bad");
}

TEST(Result, arrow_reaches_members_and_move_only_values_work) {
  Result<std::string> s = std::string("abc");
  EXPECT_EQ(s->size(), 3u);
  Result<std::unique_ptr<int>> p = std::make_unique<int>(7);
  std::unique_ptr<int> taken = std::move(p).value();
  EXPECT_EQ(*taken, 7);
}

TEST(Result, error_can_be_moved_out) {
  Result<int> r = Error("gone").with_hint("h");
  Error e = std::move(r).error();
  EXPECT_EQ(e.message(), "gone");
  EXPECT_EQ(e.hint(), "h");
}

TEST(Status, default_is_ok_and_error_is_not) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status bad = Error("no");
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message(), "no");
}

Result<int> half(int v) {
  if (v % 2) return Error::format("{} is odd", v);
  return v / 2;
}

Result<int> quarter(int v) {
  NN_ASSIGN_OR_RETURN(int h, half(v));
  NN_ASSIGN_OR_RETURN(int q, half(h));
  return q;
}

Status check_even(int v) {
  NN_TRY(half(v));
  return {};
}

TEST(Result, assign_or_return_propagates_the_first_error) {
  EXPECT_EQ(*quarter(8), 2);
  EXPECT_EQ(quarter(6).error().message(), "3 is odd");
  EXPECT_EQ(quarter(5).error().message(), "5 is odd");
}

TEST(Result, try_returns_the_error_from_a_status_function) {
  EXPECT_TRUE(check_even(4).ok());
  EXPECT_EQ(check_even(3).error().message(), "3 is odd");
}

}  // namespace
}  // namespace nahanni
