#include "util/keyval.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace nahanni {
namespace {

// Reads a value up to an unescaped ',' (",," stands for ','); returns the position after it.
size_t read_value(std::string_view text, size_t pos, std::string& out) {
  while (pos < text.size()) {
    if (text[pos] == ',') {
      if (pos + 1 < text.size() && text[pos + 1] == ',') {
        out += ',';
        pos += 2;
        continue;
      }
      return pos + 1;
    }
    out += text[pos++];
  }
  return pos;
}

template <typename Json>
OptionValue json_to_option_value(const Json& j) {
  OptionValue v;
  using K = OptionValue::Kind;
  switch (j.type()) {
    case nlohmann::json::value_t::string: v.kind = K::JsonString; v.text = j.template get<std::string>(); break;
    case nlohmann::json::value_t::boolean: v.kind = K::JsonBool; v.boolean = j.template get<bool>(); break;
    case nlohmann::json::value_t::number_integer: v.kind = K::JsonInt; v.integer = j.template get<int64_t>(); break;
    case nlohmann::json::value_t::number_unsigned: v.kind = K::JsonUInt; v.uinteger = j.template get<uint64_t>(); break;
    case nlohmann::json::value_t::number_float: v.kind = K::JsonDouble; v.number = j.template get<double>(); break;
    case nlohmann::json::value_t::null: v.kind = K::JsonNull; break;
    default: v.kind = K::JsonCompound; v.text = j.dump(); break;
  }
  return v;
}

}  // namespace

OptionValue option_value_from_json(const nlohmann::json& j) { return json_to_option_value(j); }
OptionValue option_value_from_json(const nlohmann::ordered_json& j) { return json_to_option_value(j); }

const OptionValue* OptionList::find(std::string_view key) const {
  for (auto it = items.rbegin(); it != items.rend(); ++it)
    if (it->first == key) return &it->second;
  return nullptr;
}

std::optional<std::string> OptionList::find_text(std::string_view key) const {
  const OptionValue* v = find(key);
  if (!v) return std::nullopt;
  return v->display();
}

std::optional<OptionValue> OptionList::take(std::string_view key) {
  std::optional<OptionValue> last;
  for (auto it = items.begin(); it != items.end();) {
    if (it->first == key) {
      last = std::move(it->second);
      it = items.erase(it);
    } else {
      ++it;
    }
  }
  return last;
}

Result<OptionList> parse_keyval(std::string_view text, std::string_view implied_key) {
  OptionList list;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t name_end = text.find_first_of("=,", pos);
    if (name_end == std::string_view::npos) name_end = text.size();
    bool has_equals = name_end < text.size() && text[name_end] == '=';

    if (first && !implied_key.empty() && !has_equals) {
      std::string value;
      pos = read_value(text, pos, value);
      if (value == "help" || value == "?") {
        list.help = true;
      } else {
        list.items.emplace_back(std::string(implied_key), OptionValue::from_text(std::move(value)));
      }
      first = false;
      continue;
    }
    first = false;

    std::string name(text.substr(pos, name_end - pos));
    if (has_equals) {
      std::string value;
      pos = read_value(text, name_end + 1, value);
      list.items.emplace_back(std::move(name), OptionValue::from_text(std::move(value)));
      continue;
    }
    pos = name_end < text.size() ? name_end + 1 : name_end;
    if (name == "help" || name == "?") {
      list.help = true;
    } else if (name.empty()) {
      // An empty item (",,," at the start of a list) carries nothing.
      continue;
    } else {
      // "noX" is X=off; a bare "no" is the empty key set off, as QEMU reads it.
      bool negated = name.starts_with("no");
      std::string key = negated ? name.substr(2) : name;
      std::string_view value = negated ? "off" : "on";
      // The TCP option is spelled "nodelay" in its modern form, so the hint names that.
      std::string advice = key == "delay" ? fmt::format("nodelay={}", negated ? "on" : "off")
                                          : fmt::format("{}={}", key, value);
      list.warnings.push_back(
          fmt::format("short-form boolean option '{}' deprecated\nPlease use {} instead", name, advice));
      list.items.emplace_back(std::move(key), OptionValue::from_text(std::string(value)));
    }
  }
  return list;
}

Result<OptionList> parse_json_object(std::string_view text) {
  nlohmann::ordered_json j;
  // nlohmann keeps the last of duplicate keys; QEMU's parser rejects them, so track keys per object.
  std::vector<std::vector<std::string>> open_objects;
  bool duplicate_key = false;
  auto track_keys = [&](int, nlohmann::ordered_json::parse_event_t event, nlohmann::ordered_json& parsed) {
    using E = nlohmann::ordered_json::parse_event_t;
    if (event == E::object_start) {
      open_objects.emplace_back();
    } else if (event == E::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == E::key && !open_objects.empty()) {
      auto& keys = open_objects.back();
      const auto& key = parsed.get_ref<const std::string&>();
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) duplicate_key = true;
      keys.push_back(key);
    }
    return true;
  };
  try {
    j = nlohmann::ordered_json::parse(text, track_keys);
  } catch (const nlohmann::json::out_of_range&) {
    // A number beyond double's range (1e999). QEMU reads it as infinity and fails the property's
    // type check later; failing here instead keeps the value from ever reaching a property.
    return Error("JSON parse error, number out of range");
  } catch (const nlohmann::json::parse_error& e) {
    // nlohmann says "...; expected end of input" when a complete value is followed by more text
    // (even a single character, whose error position is then the end of the input).
    std::string_view msg = e.what();
    if (msg.find("; expected end of input") != std::string_view::npos)
      return Error("Expecting at most one JSON value");
    if (e.byte >= text.size()) return Error("JSON parse error, premature EOI");
    return Error("JSON parse error, invalid JSON syntax");
  }
  if (duplicate_key) return Error("JSON parse error, duplicate key");
  if (!j.is_object()) return Error("JSON value must be an object");
  OptionList list;
  list.from_json = true;
  for (auto& [key, value] : j.items()) list.items.emplace_back(key, option_value_from_json(value));
  return list;
}

Result<OptionList> parse_option_argument(std::string_view text, std::string_view implied_key) {
  if (!text.empty() && text[0] == '{') return parse_json_object(text);
  return parse_keyval(text, implied_key);
}

bool is_valid_id(std::string_view id) {
  if (id.empty() || !std::isalpha(static_cast<unsigned char>(id[0]))) return false;
  for (char c : id)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') return false;
  return true;
}

Error invalid_id_error(std::string_view param) {
  return Error::format("Parameter '{}' expects an identifier", param)
      .with_hint("Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
}

}  // namespace nahanni
