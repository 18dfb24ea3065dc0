#include "chardev/char-opts.h"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string_view>

#include "chardev/char-internal.h"
#include "chardev/char.h"

namespace nahanni {
namespace {

enum class OptType { Str, Bool, Num, Size };

struct OptSpec {
  std::string_view name;
  OptType type;
};

// Sorted by name, as "-chardev socket,help" prints them.
constexpr OptSpec kOptions[] = {
    {"abstract", OptType::Bool},  {"append", OptType::Bool},     {"backend", OptType::Str},
    {"chardev", OptType::Str},    {"clipboard", OptType::Bool},  {"cols", OptType::Num},
    {"debug", OptType::Num},      {"delay", OptType::Bool},      {"fd", OptType::Str},
    {"height", OptType::Num},     {"host", OptType::Str},        {"ipv4", OptType::Bool},
    {"ipv6", OptType::Bool},      {"localaddr", OptType::Str},   {"localport", OptType::Str},
    {"logappend", OptType::Bool}, {"logfile", OptType::Str},     {"mouse", OptType::Bool},
    {"mux", OptType::Bool},       {"name", OptType::Str},        {"nodelay", OptType::Bool},
    {"path", OptType::Str},       {"port", OptType::Str},        {"reconnect", OptType::Num},
    {"rows", OptType::Num},       {"server", OptType::Bool},     {"signal", OptType::Bool},
    {"size", OptType::Size},      {"telnet", OptType::Bool},     {"tight", OptType::Bool},
    {"tls-authz", OptType::Str},  {"tls-creds", OptType::Str},   {"tn3270", OptType::Bool},
    {"to", OptType::Num},         {"wait", OptType::Bool},       {"websocket", OptType::Bool},
    {"width", OptType::Num},
};

const OptSpec* find_spec(std::string_view name) {
  auto it = std::find_if(std::begin(kOptions), std::end(kOptions), [&](const OptSpec& s) { return s.name == name; });
  return it == std::end(kOptions) ? nullptr : it;
}

std::string_view type_label(OptType t) {
  switch (t) {
    case OptType::Bool: return "bool (on/off)";
    case OptType::Num: return "num";
    case OptType::Size: return "size";
    case OptType::Str: break;
  }
  return "str";
}

// QemuOpts numbers: any base strtoull reads (so "0x10", and "-1" wraps as in QEMU).
Result<uint64_t> parse_number(std::string_view key, const std::string& text) {
  if (text.empty()) return Error::format("Parameter '{}' expects a number", key);
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 0);
  if (errno == ERANGE) return Error::format("Value '{}' is too large for parameter '{}'", text, key);
  if (errno != 0 || *end != '\0') return Error::format("Parameter '{}' expects a number", key);
  return static_cast<uint64_t>(v);
}

}  // namespace

Status chardev_check_options(const OptionList& opts) {
  for (const auto& [key, value] : opts.items) {
    if (key == "id") continue;
    const OptSpec* spec = find_spec(key);
    if (!spec) return Error::format("Invalid parameter '{}'", key);
    const std::string text = value.display();
    switch (spec->type) {
      case OptType::Str: break;
      case OptType::Bool:
        if (!parse_bool_text(text)) return Error::format("Parameter '{}' expects 'on' or 'off'", key);
        break;
      case OptType::Num: NN_TRY(parse_number(key, text)); break;
      case OptType::Size:
        if (!parse_size_value(key, OptionValue::from_text(text)))
          return Error::format("Parameter '{}' expects a non-negative number below 2^64", key);
        break;
    }
  }
  return {};
}

bool chardev_opt_bool(const OptionList& opts, std::string_view key, bool def) {
  const OptionValue* v = opts.find(key);
  if (!v) return def;
  return parse_bool_text(v->display()).value_or(def);
}

uint64_t chardev_opt_number(const OptionList& opts, std::string_view key, uint64_t def) {
  const OptionValue* v = opts.find(key);
  if (!v) return def;
  auto n = parse_number(key, v->display());
  return n ? *n : def;
}

std::optional<std::string> chardev_opt_string(const OptionList& opts, std::string_view key) {
  const OptionValue* v = opts.find(key);
  if (!v) return std::nullopt;
  return v->display();
}

std::string chardev_options_help() {
  std::string out = "chardev options:\n";
  for (const OptSpec& s : kOptions) out += fmt::format("  {}=<{}>\n", s.name, type_label(s.type));
  return out;
}

}  // namespace nahanni
