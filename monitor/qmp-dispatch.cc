#include <fmt/format.h>

#include <exception>
#include <set>

#include "monitor/qmp.h"

namespace nahanni {
namespace {

using ojson = nlohmann::ordered_json;

std::string_view type_name(QmpType t) {
  switch (t) {
    case QmpType::String: return "string";
    case QmpType::Bool: return "boolean";
    case QmpType::Int: return "integer";
    case QmpType::Number: return "number";
    case QmpType::Object: return "object";
    case QmpType::Array: return "array";
    case QmpType::Any: return "any";
  }
  return "any";
}

bool has_type(const nlohmann::json& v, QmpType t) {
  switch (t) {
    case QmpType::String: return v.is_string();
    case QmpType::Bool: return v.is_boolean();
    case QmpType::Int: return v.is_number_integer();
    case QmpType::Number: return v.is_number();
    case QmpType::Object: return v.is_object();
    case QmpType::Array: return v.is_array();
    case QmpType::Any: return true;
  }
  return false;
}

// Schema order first (missing, then wrong type), unexpected members last, as QEMU's visitor.
Status check_arguments(const QmpCommand& cmd, const nlohmann::json& args) {
  for (const QmpArg& a : cmd.args) {
    auto it = args.find(a.name);
    if (it == args.end()) {
      if (!a.optional) return Error::format("Parameter '{}' is missing", a.name);
      continue;
    }
    if (!has_type(*it, a.type))
      return Error::format("Invalid parameter type for '{}', expected: {}", a.name, type_name(a.type));
  }
  if (cmd.extra_args) return {};
  for (auto it = args.begin(); it != args.end(); ++it) {
    bool known = false;
    for (const QmpArg& a : cmd.args) known = known || a.name == it.key();
    if (!known) return Error::format("Parameter '{}' is unexpected", it.key());
  }
  return {};
}

void format_into(const ojson& j, std::string& out) {
  if (j.is_object()) {
    out += '{';
    bool first = true;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (!first) out += ", ";
      first = false;
      out += ojson(it.key()).dump(-1, ' ', true, ojson::error_handler_t::replace);
      out += ": ";
      format_into(it.value(), out);
    }
    out += '}';
  } else if (j.is_array()) {
    out += '[';
    bool first = true;
    for (const ojson& e : j) {
      if (!first) out += ", ";
      first = false;
      format_into(e, out);
    }
    out += ']';
  } else {
    out += j.dump(-1, ' ', true, ojson::error_handler_t::replace);
  }
}

}  // namespace

QmpCommandTable& QmpCommandTable::instance() {
  static QmpCommandTable table;
  return table;
}

void QmpCommandTable::add(QmpCommand command) {
  std::string name = command.name;
  commands_.insert_or_assign(std::move(name), std::move(command));
}

const QmpCommand* QmpCommandTable::find(std::string_view name) const {
  auto it = commands_.find(name);
  return it == commands_.end() ? nullptr : &it->second;
}

std::vector<std::string> QmpCommandTable::names() const {
  std::vector<std::string> out;
  for (const auto& [name, cmd] : commands_) out.push_back(name);
  return out;
}

ojson qmp_error_reply(const Error& error, const ojson* id) {
  ojson reply = ojson::object();
  if (id) reply["id"] = *id;
  reply["error"] = ojson{{"class", std::string(error_class_name(error.error_class()))}, {"desc", error.message()}};
  return reply;
}

Result<ojson> qmp_parse(std::string_view text) {
  // nlohmann keeps the last of repeated keys; QEMU refuses them, so track keys per open object.
  std::vector<std::set<std::string>> open_objects;
  bool duplicate = false;
  auto callback = [&](int, ojson::parse_event_t event, ojson& parsed) {
    switch (event) {
      case ojson::parse_event_t::object_start: open_objects.emplace_back(); break;
      case ojson::parse_event_t::object_end:
        if (!open_objects.empty()) open_objects.pop_back();
        break;
      case ojson::parse_event_t::key:
        if (!open_objects.empty() && parsed.is_string() &&
            !open_objects.back().insert(parsed.get<std::string>()).second)
          duplicate = true;
        break;
      default: break;
    }
    return true;
  };
  ojson value;
  try {
    value = ojson::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/false);
  } catch (const std::exception&) {
    return Error("JSON parse error, expecting value");
  }
  if (value.is_discarded()) return Error("JSON parse error, expecting value");
  if (duplicate) return Error("JSON parse error, duplicate key");
  return value;
}

std::string qmp_format(const ojson& value, bool pretty) {
  if (pretty) return value.dump(4, ' ', true, ojson::error_handler_t::replace);
  std::string out;
  format_into(value, out);
  return out;
}

ojson QmpSession::handle_text(std::string_view text) {
  Result<ojson> request = qmp_parse(text);
  if (!request) return qmp_error_reply(request.error());
  return handle_request(*request);
}

ojson QmpSession::handle_request(const ojson& request) {
  if (!request.is_object()) return qmp_error_reply(Error("QMP input must be a JSON object"));
  const ojson* id = nullptr;
  if (auto it = request.find("id"); it != request.end()) id = &*it;

  const ojson* execute = nullptr;
  const ojson* arguments = nullptr;
  for (auto it = request.begin(); it != request.end(); ++it) {
    const std::string& key = it.key();
    if (key == "execute") {
      if (!it->is_string()) return qmp_error_reply(Error("QMP input member 'execute' must be a string"), id);
      execute = &*it;
    } else if (key == "arguments") {
      if (!it->is_object()) return qmp_error_reply(Error("QMP input member 'arguments' must be an object"), id);
      arguments = &*it;
    } else if (key != "id") {
      // Includes "exec-oob": out-of-band execution is never offered in the greeting.
      return qmp_error_reply(Error::format("QMP input member '{}' is unexpected", key), id);
    }
  }
  if (!execute) return qmp_error_reply(Error("QMP input lacks member 'execute'"), id);
  const std::string name = execute->get<std::string>();

  if (!negotiated_ && name != kQmpCapabilities)
    return qmp_error_reply(
        Error("Expecting capabilities negotiation with 'qmp_capabilities'", Error::Class::CommandNotFound), id);
  if (negotiated_ && name == kQmpCapabilities)
    return qmp_error_reply(
        Error("Capabilities negotiation is already complete, command ignored", Error::Class::CommandNotFound), id);

  const QmpCommand* cmd = QmpCommandTable::instance().find(name);
  if (!cmd || !cmd->handler)
    return qmp_error_reply(Error(fmt::format("The command {} has not been found", name), Error::Class::CommandNotFound),
                           id);

  Result<nlohmann::json> result = Error("internal error");
  try {
    nlohmann::json args = arguments ? nlohmann::json(*arguments) : nlohmann::json::object();
    if (Status st = check_arguments(*cmd, args); !st) return qmp_error_reply(st.error(), id);
    result = cmd->handler(args);
  } catch (const std::exception& e) {
    // A handler bug must not take the monitor down: answer and go on.
    result = Error(fmt::format("internal error in '{}': {}", name, e.what()));
  }
  if (!result) return qmp_error_reply(result.error(), id);
  if (name == kQmpCapabilities) negotiated_ = true;

  ojson reply = ojson::object();
  reply["return"] = ojson(*result);
  if (id) reply["id"] = *id;
  return reply;
}

}  // namespace nahanni
