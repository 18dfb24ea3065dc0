#include "util/option-value.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <limits>

#include "util/size.h"

namespace nahanni {
namespace {

Error type_error(std::string_view name, std::string_view expected) {
  return Error::format("Invalid parameter type for '{}', expected: {}", name, expected);
}

bool is_json(const OptionValue& v) { return v.kind != OptionValue::Kind::Text; }

// Integers as QEMU's string input reads them (strtoull/strtoll, base 0): leading blanks and a
// sign allowed, nothing after the digits. nullopt when not a number or beyond 64 bits.
struct ParsedUnsigned {
  uint64_t value;
  bool negative;  // "-N": QEMU wraps it; we only accept "-0"
};
std::optional<ParsedUnsigned> text_to_u64(const std::string& s) {
  size_t first = s.find_first_not_of(" \t\n\v\f\r");
  if (first == std::string::npos) return std::nullopt;
  bool negative = s[first] == '-';
  size_t digits = first + (negative || s[first] == '+' ? 1 : 0);
  if (digits >= s.size() || !std::isdigit(static_cast<unsigned char>(s[digits]))) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s.c_str() + digits, &end, 0);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return ParsedUnsigned{v, negative};
}

std::optional<int64_t> text_to_i64(const std::string& s) {
  if (s.find_first_not_of(" \t\n\v\f\r") == std::string::npos) return std::nullopt;
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s.c_str(), &end, 0);
  if (errno != 0 || end == s.c_str() || *end != '\0') return std::nullopt;
  return v;
}

}  // namespace

OptionValue OptionValue::lenient() const {
  if (kind == Kind::JsonString) return from_text(text);
  return *this;
}

std::string OptionValue::display() const {
  switch (kind) {
    case Kind::Text:
    case Kind::JsonString:
    case Kind::JsonCompound: return text;
    case Kind::JsonBool: return boolean ? "true" : "false";
    case Kind::JsonInt: return std::to_string(integer);
    case Kind::JsonUInt: return std::to_string(uinteger);
    case Kind::JsonDouble: return fmt::format("{}", number);
    case Kind::JsonNull: return "null";
  }
  return text;
}

std::string_view to_string(OnOffAuto v) {
  switch (v) {
    case OnOffAuto::Auto: return "auto";
    case OnOffAuto::On: return "on";
    case OnOffAuto::Off: return "off";
  }
  return "auto";
}

std::optional<bool> parse_bool_text(std::string_view t) {
  if (t == "on" || t == "yes" || t == "true" || t == "y") return true;
  if (t == "off" || t == "no" || t == "false" || t == "n") return false;
  return std::nullopt;
}

Result<bool> parse_bool_value(std::string_view name, const OptionValue& v) {
  if (v.kind == OptionValue::Kind::JsonBool) return v.boolean;
  if (is_json(v)) return type_error(name, "boolean");
  if (auto b = parse_bool_text(v.text)) return *b;
  return Error::format("Parameter '{}' expects 'on' or 'off'", name);
}

Result<std::string> parse_string_value(std::string_view name, const OptionValue& v) {
  if (v.kind == OptionValue::Kind::Text || v.kind == OptionValue::Kind::JsonString) return v.text;
  return type_error(name, "string");
}

Result<uint64_t> parse_uint_value(std::string_view name, const OptionValue& v, uint64_t max,
                                  std::string_view type_name) {
  uint64_t value = 0;
  switch (v.kind) {
    case OptionValue::Kind::Text: {
      // Not a number, or beyond 64 bits: "expects integer"; a number out of range: the type.
      auto parsed = text_to_u64(v.text);
      if (!parsed) return Error::format("Parameter '{}' expects integer", name);
      if (parsed->negative && parsed->value != 0) return Error::format("Parameter '{}' expects {}", name, type_name);
      value = parsed->value;
      break;
    }
    case OptionValue::Kind::JsonUInt: value = v.uinteger; break;
    case OptionValue::Kind::JsonInt:
      if (v.integer < 0) return Error::format("Parameter '{}' expects {}", name, type_name);
      value = static_cast<uint64_t>(v.integer);
      break;
    default: return Error::format("Parameter '{}' expects uint64", name);
  }
  if (value > max) return Error::format("Parameter '{}' expects {}", name, type_name);
  return value;
}

Result<int64_t> parse_int_value(std::string_view name, const OptionValue& v, int64_t min, int64_t max,
                                std::string_view type_name) {
  int64_t value = 0;
  switch (v.kind) {
    case OptionValue::Kind::Text: {
      auto parsed = text_to_i64(v.text);
      if (!parsed) return Error::format("Parameter '{}' expects integer", name);
      value = *parsed;
      break;
    }
    case OptionValue::Kind::JsonInt: value = v.integer; break;
    case OptionValue::Kind::JsonUInt:
      if (v.uinteger > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return Error::format("Parameter '{}' expects {}", name, type_name);
      value = static_cast<int64_t>(v.uinteger);
      break;
    default: return Error::format("Parameter '{}' expects int64", name);
  }
  if (value < min || value > max) return Error::format("Parameter '{}' expects {}", name, type_name);
  return value;
}

Result<uint64_t> parse_size_value(std::string_view name, const OptionValue& v) {
  switch (v.kind) {
    case OptionValue::Kind::Text:
      if (auto s = parse_size(v.text)) return *s;
      return Error::format("Parameter '{}' expects a size value", name);
    case OptionValue::Kind::JsonUInt: return v.uinteger;
    case OptionValue::Kind::JsonInt:
      if (v.integer >= 0) return static_cast<uint64_t>(v.integer);
      [[fallthrough]];
    default: return Error::format("Parameter '{}' expects uint64", name);
  }
}

Result<size_t> parse_enum_value(std::string_view name, const OptionValue& v,
                                std::span<const std::string_view> allowed) {
  if (v.kind != OptionValue::Kind::Text && v.kind != OptionValue::Kind::JsonString)
    return type_error(name, "string");
  for (size_t i = 0; i < allowed.size(); ++i)
    if (allowed[i] == v.text) return i;
  return Error::format("Parameter '{}' does not accept value '{}'", name, v.text);
}

Result<OnOffAuto> parse_on_off_auto_value(std::string_view name, const OptionValue& v) {
  static constexpr std::string_view kNames[] = {"auto", "on", "off"};
  NN_ASSIGN_OR_RETURN(size_t index, parse_enum_value(name, v, kNames));
  return static_cast<OnOffAuto>(index);
}

}  // namespace nahanni
