// -chardev null: swallows what is written and never produces input. Like QEMU's, it never
// reports itself open, so a monitor on it sends no greeting.
#include "chardev/char-internal.h"
#include "chardev/char.h"
#include "qom/type.h"

namespace nahanni {
namespace {

class NullChardev final : public Chardev {
 public:
  using Chardev::write_all;
  bool write_all(std::span<const uint8_t> data) override {
    (void)data;
    return true;
  }
  bool connected() const override { return false; }
  Status complete() override { return {}; }
};

const TypeRegistration kNullType{TypeInfo{.name = "chardev-null",
                                          .parent = std::string(kChardevType),
                                          .factory = make_factory<NullChardev>(),
                                          .user_creatable = false}};

}  // namespace
}  // namespace nahanni
