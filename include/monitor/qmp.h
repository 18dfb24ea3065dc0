// QMP commands: a table every command adds itself to from the file that implements it, and the
// dispatcher that turns one request into one reply with QEMU's exact error classes and texts.
//
// Adding a command (e.g. query-pci in hw/pci/pci-qmp.cc):
//
//   #include <nlohmann/json.hpp>
//   #include "monitor/qmp.h"
//
//   namespace {
//   Result<nlohmann::json> qmp_query_pci(const nlohmann::json& args) {
//     nlohmann::json buses = nlohmann::json::array();
//     ...
//     return buses;                       // the "return" value; nlohmann::json::object() for {}
//   }
//   const QmpCommandRegistration kQueryPci{QmpCommand{
//       .name = "query-pci",
//       .args = {},                        // e.g. {{"id", QmpType::String}, {"force", QmpType::Bool, true}}
//       .handler = qmp_query_pci}};
//   }  // namespace
//
// The dispatcher checks `args` before calling the handler, in schema order: a missing required
// member gives "Parameter 'id' is missing", a member of the wrong JSON type "Invalid parameter
// type for 'id', expected: string", then any member not in the schema "Parameter 'x' is
// unexpected" (unless `extra_args`). The handler receives the "arguments" object (an empty object
// when absent), so it may index it without checks for required members. An Error returned by the
// handler becomes {"error": {"class": error_class_name(e.error_class()), "desc": e.message()}}.
// Handlers run on the main loop and must not throw; the dispatcher still catches nlohmann
// exceptions and answers them as a GenericError.
#pragma once

#include <nlohmann/json.hpp>

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace nahanni {

// JSON types an argument may have; Int takes any JSON integer, Number any JSON number.
enum class QmpType { String, Bool, Int, Number, Object, Array, Any };

struct QmpArg {
  std::string name;
  QmpType type = QmpType::String;
  bool optional = false;
};

using QmpHandler = std::function<Result<nlohmann::json>(const nlohmann::json& args)>;

struct QmpCommand {
  std::string name;
  std::vector<QmpArg> args;
  QmpHandler handler;
  // Members beyond `args` go to the handler instead of being refused (device_add, object-add).
  bool extra_args = false;
};

class QmpCommandTable {
 public:
  static QmpCommandTable& instance();
  void add(QmpCommand command);
  const QmpCommand* find(std::string_view name) const;
  // Every command name, sorted.
  std::vector<std::string> names() const;

 private:
  std::map<std::string, QmpCommand, std::less<>> commands_;
};

struct QmpCommandRegistration {
  explicit QmpCommandRegistration(QmpCommand command) { QmpCommandTable::instance().add(std::move(command)); }
};

// The capability negotiation command; the session leaves negotiation mode when it succeeds.
inline constexpr std::string_view kQmpCapabilities = "qmp_capabilities";

// One client's protocol state: negotiation mode, then command mode.
class QmpSession {
 public:
  // Answers one complete JSON text from the stream. Always returns a reply object.
  nlohmann::ordered_json handle_text(std::string_view text);
  nlohmann::ordered_json handle_request(const nlohmann::ordered_json& request);
  bool negotiated() const { return negotiated_; }
  // Back to negotiation mode (a new connection).
  void reset() { negotiated_ = false; }

 private:
  bool negotiated_ = false;
};

// {"error": {...}} with an optional "id" (copied from the request; nullptr when absent).
nlohmann::ordered_json qmp_error_reply(const Error& error, const nlohmann::ordered_json* id = nullptr);
// Parses one JSON text as QEMU's parser would judge it (duplicate keys refused), with QEMU's
// "JSON parse error, ..." messages.
Result<nlohmann::ordered_json> qmp_parse(std::string_view text);
// Serialises as QEMU does: `{"a": 1, "b": [1, 2]}` (pretty: indented), non-ASCII escaped.
std::string qmp_format(const nlohmann::ordered_json& value, bool pretty = false);

}  // namespace nahanni
