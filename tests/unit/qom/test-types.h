// Object types the qom tests register for themselves (all named "test-..."), so the tests
// exercise the registry, properties and -object without depending on real backends.
#pragma once

#include <cstdint>
#include <string>

#include "qom/object.h"
#include "util/option-value.h"

namespace nahanni::test {

inline constexpr std::string_view kTestInterface = "test-interface";

// "test-base" (abstract, implements test-interface): flag, count (default 3), label.
class TestBase : public Object {
 public:
  bool flag_ = false;
  uint32_t count_ = 3;
  std::string label_;
};

// "test-derived": count again (default 7), big, bytes, mode, small, mid, peer (link<test-base>).
class TestDerived : public TestBase {
 public:
  TestDerived() { count_ = 7; }  // the member holds the default help shows
  uint64_t big_ = 0;
  uint64_t bytes_ = 0;
  OnOffAuto mode_ = OnOffAuto::Auto;
  uint8_t small_ = 0;
  uint16_t mid_ = 0;
  TestBase* peer_ = nullptr;
};

// "test-creatable" (user-creatable): value, text, fail-complete; busy blocks object-del.
class TestCreatable : public Object {
 public:
  uint32_t value_ = 0;
  std::string text_;
  bool fail_complete_ = false;
  bool busy_ = false;
  int completions_ = 0;

  Status complete() override {
    ++completions_;
    if (fail_complete_) return Error("test-creatable refused to complete");
    return {};
  }
  bool can_be_deleted() const override { return !busy_; }
};

}  // namespace nahanni::test
