// QEMU's option syntax. An option argument is either a key=value list
//   "ivshmem-plain,memdev=m1,master=on"
// (first item may be a bare value for the implied key, ",," is a literal comma, a bare "help"
// or "?" asks for help, a bare "share" means share=on and "noshare" share=off, with QEMU's
// deprecation warning), or, when it starts with '{', a JSON object as libvirt passes it.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/error.h"
#include "util/option-value.h"

namespace nahanni {

// Where options came from: some messages differ between the command line and QMP, as in QEMU.
enum class OptionSource { CommandLine, Qmp, Internal /* the machine's own devices */ };

struct OptionList {
  std::vector<std::pair<std::string, OptionValue>> items;  // in the order given; repeats kept
  bool help = false;
  bool from_json = false;
  std::vector<std::string> warnings;  // to print with the option's location (short-form booleans)

  // The last value given for `key` (repeated keys: the last wins).
  const OptionValue* find(std::string_view key) const;
  std::optional<std::string> find_text(std::string_view key) const;
  bool has(std::string_view key) const { return find(key) != nullptr; }
  // Removes every item named `key` and returns the last one's value.
  std::optional<OptionValue> take(std::string_view key);
};

// key=value syntax only. `implied_key` may be empty (no implied key).
Result<OptionList> parse_keyval(std::string_view text, std::string_view implied_key);
// A JSON value as an option value, keeping its JSON type (QMP arguments, the JSON form).
OptionValue option_value_from_json(const nlohmann::json& value);
OptionValue option_value_from_json(const nlohmann::ordered_json& value);
// JSON object syntax only.
Result<OptionList> parse_json_object(std::string_view text);
// Either, chosen by the first character as QEMU does.
Result<OptionList> parse_option_argument(std::string_view text, std::string_view implied_key);

// QEMU identifiers (ids of objects, devices, chardevs): a letter, then letters, digits, '-', '.', '_'.
bool is_valid_id(std::string_view id);
// The error QEMU gives for a bad id, with its hint line.
Error invalid_id_error(std::string_view param = "id");

}  // namespace nahanni
