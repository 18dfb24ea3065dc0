#include "test-types.h"

#include "qom/property.h"
#include "qom/type.h"
#include "qom/user-creatable.h"

namespace nahanni::test {
namespace {

const TypeRegistration kBase{TypeInfo{
    .name = "test-base",
    .parent = "object",
    .abstract = true,
    .interfaces = {std::string(kTestInterface)},
    .properties = {bool_property<TestBase>("flag", &TestBase::flag_, "on/off", false),
                   uint_property<TestBase, uint32_t>("count", &TestBase::count_, "", 3u),
                   string_property<TestBase>("label", &TestBase::label_, "")}}};

const TypeRegistration kDerived{TypeInfo{
    .name = "test-derived",
    .parent = "test-base",
    .factory = make_factory<TestDerived>(),
    .properties = {uint_property<TestDerived, uint32_t>("count", &TestDerived::count_, "how many", 7u),
                   uint_property<TestDerived, uint64_t>("big", &TestDerived::big_, ""),
                   size_property<TestDerived>("bytes", &TestDerived::bytes_, "Size of the thing (ex: 500M)"),
                   on_off_auto_property<TestDerived>("mode", &TestDerived::mode_, "on/off/auto", OnOffAuto::Auto),
                   uint_property<TestDerived, uint8_t>("small", &TestDerived::small_, ""),
                   uint_property<TestDerived, uint16_t>("mid", &TestDerived::mid_, ""),
                   link_property<TestDerived, TestBase>("peer", &TestDerived::peer_, "test-base")}}};

const TypeRegistration kCreatable{TypeInfo{
    .name = "test-creatable",
    .parent = "object",
    .interfaces = {std::string(kUserCreatable)},
    .factory = make_factory<TestCreatable>(),
    .properties = {uint_property<TestCreatable, uint32_t>("value", &TestCreatable::value_, ""),
                   string_property<TestCreatable>("text", &TestCreatable::text_, ""),
                   bool_property<TestCreatable>("fail-complete", &TestCreatable::fail_complete_, "")}}};

// A concrete type that is not user-creatable, and one that implements the interface but
// hides itself (as QEMU's internal objects do).
const TypeRegistration kPlainObject{
    TypeInfo{.name = "test-plain-object", .parent = "object", .factory = make_factory<TestCreatable>()}};
const TypeRegistration kHidden{TypeInfo{.name = "test-hidden-creatable",
                                        .parent = "object",
                                        .interfaces = {std::string(kUserCreatable)},
                                        .factory = make_factory<TestCreatable>(),
                                        .user_creatable = false}};

}  // namespace
}  // namespace nahanni::test
