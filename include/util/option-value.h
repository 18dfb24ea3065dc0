// A property value as the user wrote it: keyval text ("size=1M") or a JSON scalar from the JSON
// form libvirt uses ('{"size":1048576}'). The parsers below turn it into a typed value with
// QEMU's messages, so -object, -device, -global, QMP and qom-set all agree.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "util/error.h"

namespace nahanni {

struct OptionValue {
  enum class Kind { Text, JsonString, JsonBool, JsonInt, JsonUInt, JsonDouble, JsonNull, JsonCompound };

  Kind kind = Kind::Text;
  std::string text;  // Text, JsonString, or the JSON dump of a compound/other value
  bool boolean = false;
  int64_t integer = 0;
  uint64_t uinteger = 0;
  double number = 0;

  static OptionValue from_text(std::string text) { return OptionValue{Kind::Text, std::move(text)}; }
  bool is_text() const { return kind == Kind::Text; }
  // QMP device_add accepts strings for every scalar (QEMU's keyval-style input).
  OptionValue lenient() const;
  // The value as the user would read it back in a message ('0x20', 'true', '"x"').
  std::string display() const;
};

// OnOffAuto, as QEMU's enum of the same name.
enum class OnOffAuto { Auto, On, Off };
std::string_view to_string(OnOffAuto v);

Result<bool> parse_bool_value(std::string_view name, const OptionValue& v);
Result<std::string> parse_string_value(std::string_view name, const OptionValue& v);
Result<uint64_t> parse_uint_value(std::string_view name, const OptionValue& v, uint64_t max,
                                  std::string_view type_name);
Result<int64_t> parse_int_value(std::string_view name, const OptionValue& v, int64_t min, int64_t max,
                                std::string_view type_name);
Result<uint64_t> parse_size_value(std::string_view name, const OptionValue& v);
Result<OnOffAuto> parse_on_off_auto_value(std::string_view name, const OptionValue& v);
// An enum given by its allowed spellings; returns the index into `allowed`.
Result<size_t> parse_enum_value(std::string_view name, const OptionValue& v,
                                std::span<const std::string_view> allowed);

// Bool spellings accepted in keyval text (on/off/yes/no/true/false/y/n).
std::optional<bool> parse_bool_text(std::string_view text);

}  // namespace nahanni
