// chardev-add's nested arguments, checked against QEMU's schema and flattened into the
// -chardev option list, so both paths share one implementation of every backend.
#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include <initializer_list>
#include <string>

#include "chardev/char.h"

namespace nahanni {
namespace {

using nlohmann::json;

enum class Kind { String, Bool, Int, Object };

struct Member {
  std::string_view name;
  Kind kind;
  bool required = false;
};

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::String: return "string";
    case Kind::Bool: return "boolean";
    case Kind::Int: return "integer";
    case Kind::Object: return "object";
  }
  return "object";
}

bool has_kind(const json& v, Kind k) {
  switch (k) {
    case Kind::String: return v.is_string();
    case Kind::Bool: return v.is_boolean();
    case Kind::Int: return v.is_number_integer();
    case Kind::Object: return v.is_object();
  }
  return false;
}

std::string join(std::string_view prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : fmt::format("{}.{}", prefix, name);
}

// Checks one struct level in schema order: missing and mistyped members first, then unknown ones.
Status check_struct(const json& obj, std::string_view prefix, std::initializer_list<Member> members) {
  for (const Member& m : members) {
    auto it = obj.find(std::string(m.name));
    if (it == obj.end()) {
      if (m.required) return Error::format("Parameter '{}' is missing", join(prefix, m.name));
      continue;
    }
    if (!has_kind(*it, m.kind))
      return Error::format("Invalid parameter type for '{}', expected: {}", join(prefix, m.name), kind_name(m.kind));
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool known = false;
    for (const Member& m : members) known = known || m.name == it.key();
    if (!known) return Error::format("Parameter '{}' is unexpected", join(prefix, it.key()));
  }
  return {};
}

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "on" : "off";
  return v.dump();
}

// A flat union's discriminator: checked before the rest of the struct, as QEMU's visitor does.
Result<std::string> union_type(const json& obj, std::string_view prefix, std::initializer_list<std::string_view> known) {
  auto it = obj.find("type");
  if (it == obj.end()) return Error::format("Parameter '{}' is missing", join(prefix, "type"));
  if (!it->is_string()) return Error::format("Invalid parameter type for '{}', expected: string", join(prefix, "type"));
  std::string type = it->get<std::string>();
  for (std::string_view k : known)
    if (k == type) return type;
  return Error::format("Parameter 'type' does not accept value '{}'", type);
}

}  // namespace

Result<OptionList> chardev_options_from_qmp(const json& arguments) {
  if (!arguments.is_object()) return Error("Invalid parameter type for 'arguments', expected: object");
  OptionList out;
  auto add = [&out](std::string key, const json& v) { out.items.emplace_back(std::move(key), OptionValue::from_text(text_of(v))); };

  NN_TRY(check_struct(arguments, "", {{"id", Kind::String, true}, {"backend", Kind::Object, true}}));
  const json& backend = arguments["backend"];
  NN_ASSIGN_OR_RETURN(std::string type, union_type(backend, "backend", {"null", "stdio", "file", "socket"}));
  NN_TRY(check_struct(backend, "backend", {{"type", Kind::String, true}, {"data", Kind::Object, true}}));
  const json& data = backend["data"];
  add("backend", backend["type"]);
  add("id", arguments["id"]);

  constexpr Member kLogfile{"logfile", Kind::String}, kLogappend{"logappend", Kind::Bool};
  if (type == "null") {
    NN_TRY(check_struct(data, "backend.data", {kLogfile, kLogappend}));
  } else if (type == "stdio") {
    NN_TRY(check_struct(data, "backend.data", {kLogfile, kLogappend, {"signal", Kind::Bool}}));
    if (data.contains("signal")) add("signal", data["signal"]);
  } else if (type == "file") {
    NN_TRY(check_struct(data, "backend.data",
                        {kLogfile, kLogappend, {"in", Kind::String}, {"out", Kind::String, true}, {"append", Kind::Bool}}));
    add("path", data["out"]);
    if (data.contains("append")) add("append", data["append"]);
  } else if (type == "socket") {
    NN_TRY(check_struct(data, "backend.data",
                        {kLogfile, kLogappend, {"addr", Kind::Object, true}, {"tls-creds", Kind::String},
                         {"tls-authz", Kind::String}, {"server", Kind::Bool}, {"wait", Kind::Bool},
                         {"nodelay", Kind::Bool}, {"telnet", Kind::Bool}, {"tn3270", Kind::Bool},
                         {"websocket", Kind::Bool}, {"reconnect", Kind::Int}}));
    const json& addr = data["addr"];
    NN_ASSIGN_OR_RETURN(std::string addr_type, union_type(addr, "backend.data.addr", {"unix", "inet", "fd"}));
    NN_TRY(check_struct(addr, "backend.data.addr", {{"type", Kind::String, true}, {"data", Kind::Object, true}}));
    const json& ad = addr["data"];
    if (addr_type == "unix") {
      NN_TRY(check_struct(ad, "backend.data.addr.data",
                          {{"path", Kind::String, true}, {"abstract", Kind::Bool}, {"tight", Kind::Bool}}));
      add("path", ad["path"]);
    } else if (addr_type == "inet") {
      NN_TRY(check_struct(ad, "backend.data.addr.data",
                          {{"host", Kind::String, true}, {"port", Kind::String, true}, {"numeric", Kind::Bool},
                           {"to", Kind::Int}, {"ipv4", Kind::Bool}, {"ipv6", Kind::Bool}, {"keep-alive", Kind::Bool},
                           {"mptcp", Kind::Bool}}));
      add("host", ad["host"]);
      add("port", ad["port"]);
    } else if (addr_type == "fd") {
      NN_TRY(check_struct(ad, "backend.data.addr.data", {{"str", Kind::String, true}}));
      add("fd", ad["str"]);
    }
    // QMP's server defaults to true, -chardev's to false.
    add("server", data.value("server", true));
    for (const char* key : {"wait", "nodelay", "telnet", "tn3270", "websocket", "reconnect"})
      if (data.contains(key)) add(key, data[key]);
  }
  return out;
}

}  // namespace nahanni
