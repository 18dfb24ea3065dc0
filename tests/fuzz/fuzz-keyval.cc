// The option syntax of -object, -device, -chardev, -machine and -global: QEMU's key=value lists
// and the JSON object form libvirt uses, then the typed value parsers every property goes
// through. Invariants:
//   - errors carry a message;
//   - a parsed key=value list printed back in canonical form ("k=v", ",," for a comma) parses
//     to the same items; a parsed JSON object printed back as JSON parses to the same items;
//   - the typed parsers agree with each other and with their bounds (a value accepted as
//     uint32 is at most 2^32-1, a size read from text is what parse_size reads, ...).
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <string>

#include "fuzz-support.h"
#include "util/keyval.h"
#include "util/option-value.h"
#include "util/size.h"

namespace nahanni {
namespace {

using fuzz::print_context;

std::string print_keyval(const OptionList& list) {
  std::string out;
  for (const auto& [key, value] : list.items) {
    if (!out.empty()) out += ',';
    out += key;
    out += '=';
    for (char c : value.text) out += c == ',' ? std::string(",,") : std::string(1, c);
  }
  if (list.help) out += out.empty() ? "help" : ",help";
  return out;
}

nlohmann::ordered_json to_json(const OptionValue& v) {
  using K = OptionValue::Kind;
  switch (v.kind) {
    case K::Text:
    case K::JsonString: return v.text;
    case K::JsonBool: return v.boolean;
    case K::JsonInt: return v.integer;
    case K::JsonUInt: return v.uinteger;
    case K::JsonDouble: return v.number;
    case K::JsonNull: return nullptr;
    case K::JsonCompound: return nlohmann::ordered_json::parse(v.text);
  }
  return nullptr;
}

bool same_value(const OptionValue& a, const OptionValue& b) {
  using K = OptionValue::Kind;
  // JSON's -0 reads as the signed integer 0 and prints as 0, which reads back unsigned: the
  // same number, and every typed parser treats both alike.
  auto as_unsigned = [](const OptionValue& v) -> std::optional<uint64_t> {
    if (v.kind == K::JsonUInt) return v.uinteger;
    if (v.kind == K::JsonInt && v.integer >= 0) return static_cast<uint64_t>(v.integer);
    return std::nullopt;
  };
  if (auto ua = as_unsigned(a), ub = as_unsigned(b); ua && ub) return *ua == *ub;
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case K::JsonBool: return a.boolean == b.boolean;
    case K::JsonInt: return a.integer == b.integer;
    case K::JsonUInt: return a.uinteger == b.uinteger;
    case K::JsonDouble: return std::memcmp(&a.number, &b.number, sizeof a.number) == 0;
    case K::JsonNull: return true;
    default: return a.text == b.text;
  }
}

void check_same_items(const OptionList& a, const OptionList& b, std::string_view printed) {
  FUZZ_CHECK(a.items.size() == b.items.size(), printed);
  for (size_t i = 0; i < a.items.size(); ++i) {
    FUZZ_CHECK(a.items[i].first == b.items[i].first, printed);
    FUZZ_CHECK(same_value(a.items[i].second, b.items[i].second), printed);
  }
  FUZZ_CHECK(a.help == b.help, printed);
}

template <typename T>
void check_error(const Result<T>& r) {
  if (!r) FUZZ_CHECK(!r.error().message().empty());
}

// Every typed parser on one value, with the relations between them.
void check_value(const std::string& key, const OptionValue& v) {
  (void)v.display();
  OptionValue lenient = v.lenient();
  FUZZ_CHECK(lenient.kind != OptionValue::Kind::JsonString);
  (void)is_valid_id(key);

  auto b = parse_bool_value(key, v);
  check_error(b);
  if (v.is_text()) FUZZ_CHECK(b.ok() == parse_bool_text(v.text).has_value(), v.text);

  auto s = parse_string_value(key, v);
  check_error(s);
  if (s) FUZZ_CHECK(*s == v.text);

  auto u32 = parse_uint_value(key, v, UINT32_MAX, "uint32");
  auto u64 = parse_uint_value(key, v, UINT64_MAX, "uint64");
  check_error(u32);
  check_error(u64);
  if (u32) FUZZ_CHECK(u64 && *u64 == *u32 && *u32 <= UINT32_MAX, v.display());
  if (u64 && *u64 <= UINT32_MAX) FUZZ_CHECK(u32.ok(), v.display());

  auto i8 = parse_int_value(key, v, INT8_MIN, INT8_MAX, "int8");
  auto i64 = parse_int_value(key, v, INT64_MIN, INT64_MAX, "int64");
  check_error(i8);
  check_error(i64);
  if (i8) FUZZ_CHECK(i64 && *i64 == *i8 && *i8 >= INT8_MIN && *i8 <= INT8_MAX, v.display());

  auto size = parse_size_value(key, v);
  check_error(size);
  if (v.is_text()) {
    auto direct = parse_size(v.text);
    FUZZ_CHECK(size.ok() == direct.has_value(), v.text);
    if (direct) {
      FUZZ_CHECK(*size == *direct, v.text);
      // The same number spelled in decimal and in hex reads back the same.
      FUZZ_CHECK(parse_size(std::to_string(*direct)) == direct, v.text);
      FUZZ_CHECK(parse_size(fmt::format("0x{:x}", *direct)) == direct, v.text);
    }
  }

  auto ooa = parse_on_off_auto_value(key, v);
  check_error(ooa);
  if (ooa) FUZZ_CHECK(to_string(*ooa) == v.text, v.text);
}

void check_keyval(std::string_view text, std::string_view implied_key) {
  auto parsed = parse_keyval(text, implied_key);
  check_error(parsed);
  if (!parsed) return;
  for (const auto& w : parsed->warnings) FUZZ_CHECK(!w.empty());
  for (const auto& [key, value] : parsed->items) {
    FUZZ_CHECK(key.find_first_of("=,") == std::string::npos, key);
    FUZZ_CHECK(value.is_text());
    check_value(key, value);
  }
  // find() returns the last of repeated keys, take() removes them all.
  OptionList copy = *parsed;
  for (const auto& [key, value] : parsed->items) {
    const OptionValue* last = parsed->find(key);
    FUZZ_CHECK(last != nullptr && last->text == parsed->find_text(key), key);
  }
  if (!copy.items.empty()) {
    std::string key = copy.items.front().first;
    auto last = copy.take(key);
    FUZZ_CHECK(last && last->text == parsed->find(key)->text && !copy.has(key), key);
  }

  std::string printed = print_keyval(*parsed);
  auto again = parse_keyval(printed, "");
  FUZZ_CHECK(again.ok(), printed);
  check_same_items(*parsed, *again, printed);
  FUZZ_CHECK(again->warnings.empty(), printed);
}

void check_json(std::string_view text) {
  auto parsed = parse_json_object(text);
  check_error(parsed);
  if (!parsed) return;
  FUZZ_CHECK(parsed->from_json);
  nlohmann::ordered_json object = nlohmann::ordered_json::object();
  for (const auto& [key, value] : parsed->items) {
    FUZZ_CHECK(!value.is_text());
    check_value(key, value);
    object[key] = to_json(value);
  }
  std::string printed = object.dump();
  auto again = parse_json_object(printed);
  FUZZ_CHECK(again.ok(), printed);
  check_same_items(*parsed, *again, printed);
  // The dispatcher picks the form by the first character.
  auto either = parse_option_argument(text, "qom-type");
  FUZZ_CHECK(either.ok() && either->from_json, text);
}

}  // namespace
}  // namespace nahanni

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nahanni;
  std::string_view text = fuzz::as_text(data, size);
  check_keyval(text, "");
  check_keyval(text, "qom-type");
  if (!text.empty() && text[0] == '{') {
    check_json(text);
  } else {
    auto either = parse_option_argument(text, "driver");
    FUZZ_CHECK(either.ok() && !either->from_json, text);
  }
  return 0;
}
