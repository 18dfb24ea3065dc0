// The QMP protocol on a monitor: greeting, negotiation, every malformed input with QEMU's exact
// error class and text, and a monitor that keeps answering after each.
#include <gtest/gtest.h>

#include "monitor-client.h"
#include "monitor/events.h"
#include "monitor/qmp.h"

namespace nahanni {
namespace {

using testing::MonitorClient;
using V = std::vector<std::string>;

constexpr const char* kAlive = R"({"execute":"query-version","id":"alive"})";
constexpr const char* kAliveReply =
    R"({"return": {"package": "nahanni 0.1.0", "qemu": {"major": 7, "micro": 0, "minor": 2}}, "id": "alive"})";

TEST(QmpMonitor, greets_on_attach_with_version_and_no_capabilities) {
  MonitorClient c;
  EXPECT_EQ(c.greeting_,
            (V{R"({"QMP": {"version": {"package": "nahanni 0.1.0", "qemu": {"major": 7, "micro": 0, "minor": 2}}, "capabilities": []}})"}));
}

TEST(QmpMonitor, negotiation_mode_refuses_other_commands) {
  MonitorClient c;
  EXPECT_EQ(c.ask(R"({"execute":"query-version","id":1})"),
            R"({"id": 1, "error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qmp_capabilities","id":1})"), R"({"return": {}, "id": 1})");
  EXPECT_EQ(c.ask(R"({"execute":"qmp_capabilities","id":2})"),
            R"({"id": 2, "error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}})");
  EXPECT_EQ(c.ask(kAlive), kAliveReply);
}

TEST(QmpMonitor, capabilities_cannot_enable_oob_or_unknown_ones) {
  MonitorClient c;
  EXPECT_EQ(c.ask(R"({"execute":"qmp_capabilities","arguments":{"enable":["oob"]}})"),
            R"({"error": {"class": "GenericError", "desc": "Capability oob not available"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qmp_capabilities","arguments":{"enable":["foo"]}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'null' does not accept value 'foo'"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qmp_capabilities","arguments":{"enable":"oob"}})"),
            R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'enable', expected: array"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qmp_capabilities","arguments":{"enable":[]}})"), R"({"return": {}})");
}

struct Malformed {
  const char* input;
  const char* reply;
};

TEST(QmpMonitor, malformed_inputs_get_exact_errors_and_the_monitor_goes_on) {
  const Malformed cases[] = {
      {"[1,2]", R"({"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}})"},
      {"3", R"({"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}})"},
      {R"("str")", R"({"error": {"class": "GenericError", "desc": "QMP input must be a JSON object"}})"},
      {R"({"id":5})", R"({"id": 5, "error": {"class": "GenericError", "desc": "QMP input lacks member 'execute'"}})"},
      {R"({"execute":"query-status","bogus":1})",
       R"({"error": {"class": "GenericError", "desc": "QMP input member 'bogus' is unexpected"}})"},
      {R"({"execute":"query-status","bogus":1,"id":"a"})",
       R"({"id": "a", "error": {"class": "GenericError", "desc": "QMP input member 'bogus' is unexpected"}})"},
      {R"({"execute":"query-status","arguments":{"x":1}})",
       R"({"error": {"class": "GenericError", "desc": "Parameter 'x' is unexpected"}})"},
      {R"({"execute":"device_del"})", R"({"error": {"class": "GenericError", "desc": "Parameter 'id' is missing"}})"},
      {R"({"execute":"device_del","arguments":{"id":5}})",
       R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'id', expected: string"}})"},
      {R"({"execute":5})", R"({"error": {"class": "GenericError", "desc": "QMP input member 'execute' must be a string"}})"},
      {R"({"execute":"query-status","arguments":[]})",
       R"({"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}})"},
      {R"({"execute":"query-status","arguments":null})",
       R"({"error": {"class": "GenericError", "desc": "QMP input member 'arguments' must be an object"}})"},
      {R"({"execute":"query-status","id":1,"id":2})",
       R"({"error": {"class": "GenericError", "desc": "JSON parse error, duplicate key"}})"},
      {"{]", R"({"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}})"},
      {"}", R"({"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}})"},
      {"x", R"({"error": {"class": "GenericError", "desc": "JSON parse error, invalid keyword 'x'"}})"},
      {"\x01", R"({"error": {"class": "GenericError", "desc": "JSON parse error, stray '\u0001'"}})"},
      {"\xff", R"({"error": {"class": "GenericError", "desc": "JSON parse error, stray '\ufffd'"}})"},
      {R"({"execute":"nosuch","id":[1,2]})",
       R"({"id": [1, 2], "error": {"class": "CommandNotFound", "desc": "The command nosuch has not been found"}})"},
      {R"({"exec-oob":"query-status"})",
       R"({"error": {"class": "GenericError", "desc": "QMP input member 'exec-oob' is unexpected"}})"},
      {R"({"execute":"qom-list-types","arguments":{"abstract":"yes"}})",
       R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'abstract', expected: boolean"}})"},
      {R"({"execute":"qom-list-types","arguments":{"abstract":null}})",
       R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'abstract', expected: boolean"}})"},
      {R"({"execute":"qom-get","arguments":{"property":"type","path":5}})",
       R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'path', expected: string"}})"},
      {R"({"execute":"human-monitor-command","arguments":{"command-line":"x","cpu-index":"0"}})",
       R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'cpu-index', expected: integer"}})"},
      {R"({"execute":"qmp_capabilities","id":2})",
       R"({"id": 2, "error": {"class": "CommandNotFound", "desc": "Capabilities negotiation is already complete, command ignored"}})"},
  };
  MonitorClient c;
  c.negotiate();
  for (const Malformed& m : cases) {
    EXPECT_EQ(c.ask(m.input), m.reply) << "input: " << m.input;
    EXPECT_EQ(c.ask(kAlive), kAliveReply) << "after: " << m.input;
  }
}

TEST(QmpMonitor, reply_copies_any_id) {
  MonitorClient c;
  c.negotiate();
  EXPECT_EQ(c.ask(R"({"execute":"query-target","id":{"a":[1,{"b":null}]}})"),
            R"({"return": {"arch": "x86_64"}, "id": {"a": [1, {"b": null}]}})");
  EXPECT_EQ(c.ask(R"({"execute":"query-target","id":null})"), R"({"return": {"arch": "x86_64"}, "id": null})");
}

TEST(QmpMonitor, requests_back_to_back_get_one_line_each) {
  MonitorClient c;
  c.negotiate();
  EXPECT_EQ(c.send(R"({"execute":"query-target","id":1}{"execute":"query-target","id":2})"),
            (V{R"({"return": {"arch": "x86_64"}, "id": 1})", R"({"return": {"arch": "x86_64"}, "id": 2})"}));
}

TEST(QmpMonitor, request_split_across_reads) {
  MonitorClient c;
  c.negotiate();
  EXPECT_EQ(c.send(R"({"execute":"query-)"), V{});
  EXPECT_EQ(c.send(R"(target"})"), (V{R"({"return": {"arch": "x86_64"}})"}));
}

TEST(QmpMonitor, garbage_then_a_good_request) {
  MonitorClient c;
  c.negotiate();
  EXPECT_EQ(c.send("{\"execute\": \x01 {\"execute\":\"query-target\"}"),
            (V{R"({"error": {"class": "GenericError", "desc": "JSON parse error, stray '\u0001'"}})",
               R"({"return": {"arch": "x86_64"}})"}));
}

TEST(QmpMonitor, single_quotes_are_accepted) {
  MonitorClient c;
  c.negotiate();
  EXPECT_EQ(c.ask("{'execute':'query-target'}"), R"({"return": {"arch": "x86_64"}})");
}

TEST(QmpMonitor, events_only_after_negotiation) {
  MonitorClient c;
  emit_event("TEST_EVENT", nlohmann::json{{"x", 1}});
  EXPECT_EQ(c.lines(), V{});
  c.negotiate();
  emit_event("TEST_EVENT", nlohmann::json{{"x", 1}});
  emit_event("TEST_NODATA", nullptr);
  EXPECT_EQ(c.lines(), (V{R"({"timestamp": T, "event": "TEST_EVENT", "data": {"x": 1}})",
                          R"({"timestamp": T, "event": "TEST_NODATA"})"}));
}

TEST(QmpMonitor, several_monitors_each_negotiate_and_get_events) {
  MonitorClient a, b;
  a.negotiate();
  emit_event("TEST_EVENT", nullptr);
  EXPECT_EQ(a.lines(), (V{R"({"timestamp": T, "event": "TEST_EVENT"})"}));
  EXPECT_EQ(b.lines(), V{});
  EXPECT_EQ(b.ask(R"({"execute":"query-target"})"),
            R"({"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})");
}

TEST(QmpMonitor, reconnect_greets_again_and_renegotiates) {
  MonitorClient c;
  c.negotiate();
  c.chr_.client_sends(R"({"execute":)");  // a partial request the new client must not inherit
  c.chr_.client_disconnects();
  EXPECT_EQ(c.lines(), V{});
  c.chr_.client_connects();
  EXPECT_EQ(c.lines().size(), 1u);  // the greeting
  EXPECT_EQ(c.ask(R"({"execute":"query-target"})"),
            R"({"error": {"class": "CommandNotFound", "desc": "Expecting capabilities negotiation with 'qmp_capabilities'"}})");
}

TEST(QmpMonitor, not_connected_at_attach_greets_on_connect) {
  testing::FakeChardev chr;
  chr.connected_ = false;
  Monitor mon(chr, false);
  ASSERT_TRUE(mon.attach().ok());
  EXPECT_EQ(chr.take_lines(), V{});
  chr.client_connects();
  EXPECT_EQ(chr.take_lines().size(), 1u);
}

TEST(QmpMonitor, second_frontend_is_refused) {
  MonitorClient c;
  Monitor other(c.chr_, false);
  Status st = other.attach();
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().message(), "Chardev '' is busy");
}

TEST(QmpMonitor, query_commands_lists_registered_commands) {
  MonitorClient c;
  c.negotiate();
  std::string reply = c.ask(R"({"execute":"query-commands"})");
  for (const char* name : {"qmp_capabilities", "query-version", "qom-list", "device_add", "quit", "query-status"})
    EXPECT_NE(reply.find(std::string(R"({"name": ")") + name + "\"}"), std::string::npos) << name;
}

TEST(QmpMonitor, hmp_bridge) {
  MonitorClient c;
  c.negotiate();
  EXPECT_EQ(c.ask(R"({"execute":"human-monitor-command","arguments":{"command-line":"info version"}})"),
            R"({"return": "7.2.0nahanni 0.1.0\r\n"})");
  EXPECT_EQ(c.ask(R"({"execute":"human-monitor-command","arguments":{"command-line":"bogus x"}})"),
            R"({"return": "unknown command: 'bogus'\r\n"})");
  EXPECT_EQ(c.ask(R"({"execute":"human-monitor-command","arguments":{"command-line":""}})"), R"({"return": ""})");
}

TEST(QmpFormat, matches_qemu_spacing_and_escapes_non_ascii) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(R"({"a": [1, {"b": "\u00e9"}], "c": {}, "d": []})");
  EXPECT_EQ(qmp_format(j), R"({"a": [1, {"b": "\u00e9"}], "c": {}, "d": []})");
}

}  // namespace
}  // namespace nahanni
