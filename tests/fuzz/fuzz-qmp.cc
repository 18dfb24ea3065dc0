// The QMP JSON layer on a machine "none" (what libvirt probes with): the stream splitter, the
// parser, the dispatcher and the commands, in-process without sockets. Invariants:
//   - the splitter cuts the same messages whether the bytes come at once or one by one;
//   - every message gets exactly one reply, an object with either "return" or an "error" whose
//     class and desc are non-empty, carrying the request's "id" when it had one;
//   - a reply as serialised on the wire (plain and pretty) parses back to the same JSON;
//   - after removing what the input created, no descriptor is left open.
// Requests that would reach the host (chardev backends other than null, file-backed memory,
// large memory backends) are not dispatched: the fuzzer must not create files or sockets.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "fuzz-support.h"
#include "machine-fixture.h"
#include "monitor/events.h"
#include "monitor/json-stream.h"
#include "monitor/qmp.h"
#include "util/fd.h"

namespace nahanni {
namespace {

Machine* g_machine = nullptr;
std::vector<std::string> g_events;

constexpr uint64_t kMaxBackendSize = 16u << 20;

// True when the request may run in a fuzzer: nothing outside the process is touched.
bool harmless(const nlohmann::ordered_json& request) {
  if (!request.is_object()) return true;
  auto execute = request.find("execute");
  if (execute == request.end() || !execute->is_string()) return true;
  auto args_it = request.find("arguments");
  const nlohmann::ordered_json args = args_it != request.end() ? *args_it : nlohmann::ordered_json::object();
  const std::string& command = execute->get_ref<const std::string&>();
  if (command == "chardev-add") {
    if (!args.is_object() || !args.contains("backend")) return true;  // refused by the schema
    const auto& backend = args["backend"];
    return backend.is_object() && backend.contains("type") && backend["type"] == "null";
  }
  if (command == "object-add") {
    if (!args.is_object()) return true;
    if (args.contains("qom-type") && args["qom-type"] == "memory-backend-file") return false;
    if (args.contains("mem-path") || args.contains("prealloc")) return false;
    if (!args.contains("size")) return true;
    const auto& size = args["size"];
    return size.is_number_unsigned() && size.get<uint64_t>() <= kMaxBackendSize;
  }
  if (command == "qom-set") {
    if (!args.is_object() || !args.contains("property")) return true;
    const auto& property = args["property"];
    return property != "size" && property != "mem-path" && property != "prealloc";
  }
  // Devices take chardevs (only null ones exist) and memdevs (bounded above): allowed.
  return true;
}

void check_reply(const nlohmann::ordered_json& reply, const nlohmann::ordered_json* request) {
  std::string line = qmp_format(reply);
  FUZZ_CHECK(reply.is_object(), line);
  bool has_return = reply.contains("return");
  bool has_error = reply.contains("error");
  FUZZ_CHECK(has_return != has_error, line);
  if (has_error) {
    const auto& e = reply["error"];
    FUZZ_CHECK(e.is_object() && e.contains("class") && e.contains("desc"), line);
    FUZZ_CHECK(e["class"].is_string() && !e["class"].get<std::string>().empty(), line);
    FUZZ_CHECK(e["desc"].is_string() && !e["desc"].get<std::string>().empty(), line);
  }
  if (request && request->is_object() && request->contains("id"))
    FUZZ_CHECK(reply.contains("id") && reply["id"] == (*request)["id"], line);
  FUZZ_CHECK(line.find('\n') == std::string::npos, line);
  auto parsed = qmp_parse(line);
  FUZZ_CHECK(parsed.ok() && *parsed == reply, line);
  auto pretty = qmp_parse(qmp_format(reply, true));
  FUZZ_CHECK(pretty.ok() && *pretty == reply, line);
}

}  // namespace
}  // namespace nahanni

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using namespace nahanni;
  g_machine = fuzz::start_machine("none", 0);
  add_event_listener([](const std::string& name, const nlohmann::json&) { g_events.push_back(name); });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nahanni;
  int fds_before = count_open_fds();

  JsonStreamSplitter whole;
  std::vector<JsonStreamItem> items;
  whole.feed(std::span(data, size), items);
  JsonStreamSplitter bytewise;
  std::vector<JsonStreamItem> bytewise_items;
  for (size_t i = 0; i < size; ++i) bytewise.feed(std::span(data + i, 1), bytewise_items);
  FUZZ_CHECK(items.size() == bytewise_items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    FUZZ_CHECK(items[i].is_error == bytewise_items[i].is_error, items[i].text);
    FUZZ_CHECK(items[i].text == bytewise_items[i].text, items[i].text);
    if (items[i].is_error) FUZZ_CHECK(!items[i].text.empty());
  }

  // Negotiation mode first, as a client connecting sees it.
  QmpSession session;
  g_events.clear();
  for (const JsonStreamItem& item : items) {
    if (item.is_error) {
      check_reply(qmp_error_reply(Error(item.text)), nullptr);
      continue;
    }
    auto request = qmp_parse(item.text);
    if (request && !harmless(*request)) continue;
    auto reply = session.handle_text(item.text);
    check_reply(reply, request ? &*request : nullptr);
  }
  for (const std::string& name : g_events) FUZZ_CHECK(!name.empty());

  fuzz::remove_user_state(*g_machine);
  int fds_after = count_open_fds();
  FUZZ_CHECK(fds_after == fds_before, fmt::format("{} descriptors before, {} after", fds_before, fds_after));
  return 0;
}
