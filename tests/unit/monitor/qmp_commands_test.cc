// QMP commands against the real object model, devices and run state, in-process: each test
// registers its own "test-mon-*" types.
#include <gtest/gtest.h>

#include "hw/core/device.h"
#include "hw/core/qdev-monitor.h"
#include "monitor-client.h"
#include "qom/property.h"
#include "qom/type.h"
#include "system/runstate.h"

namespace nahanni {
namespace {

using testing::MonitorClient;
using V = std::vector<std::string>;

class TestMonObject : public Object {
 public:
  uint32_t count_ = 3;
  bool flag_ = false;
  std::string label_;
  bool in_use_ = false;
  bool can_be_deleted() const override { return !in_use_; }
};

class TestMonDevice : public Device {
 public:
  uint32_t level_ = 7;
};

const TypeRegistration kAbstract{TypeInfo{.name = "test-mon-abstract", .parent = "object", .abstract = true,
                                          .interfaces = {"test-mon-iface"}}};
const TypeRegistration kObject{TypeInfo{
    .name = "test-mon-object",
    .parent = "test-mon-abstract",
    .interfaces = {"user-creatable"},
    .factory = make_factory<TestMonObject>(),
    .properties = {uint_property<TestMonObject, uint32_t>("count", &TestMonObject::count_, "How many", 3u),
                   bool_property<TestMonObject>("flag", &TestMonObject::flag_, "A flag"),
                   string_property<TestMonObject>("label", &TestMonObject::label_, "")}}};
const TypeRegistration kDevice{TypeInfo{
    .name = "test-mon-device",
    .parent = "device",
    .factory = make_factory<TestMonDevice>(),
    .properties = {uint_property<TestMonDevice, uint32_t>("level", &TestMonDevice::level_, "Level", 7u)}}};

class QmpCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override { c.negotiate(); }
  void TearDown() override {
    for (const char* id : {"o1", "o2"}) (void)objects_container().remove_child(id);
    (void)object_root().container("machine")->container("peripheral")->remove_child("d1");
  }
  MonitorClient c;
};

TEST_F(QmpCommandsTest, object_add_then_qom_get_then_object_del) {
  EXPECT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object","id":"o1","count":5,"label":"x"}})"),
            R"({"return": {}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/objects/o1","property":"count"}})"), R"({"return": 5})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/objects/o1","property":"label"}})"), R"({"return": "x"})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/objects/o1","property":"type"}})"),
            R"({"return": "test-mon-object"})");
  EXPECT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object","id":"o1"}})"),
            R"j({"error": {"class": "GenericError", "desc": "attempt to add duplicate property 'o1' to object (type 'container')"}})j");
  EXPECT_EQ(c.ask(R"({"execute":"object-del","arguments":{"id":"o1"}})"), R"({"return": {}})");
  EXPECT_EQ(c.ask(R"({"execute":"object-del","arguments":{"id":"o1"}})"),
            R"({"error": {"class": "GenericError", "desc": "object 'o1' not found"}})");
}

TEST_F(QmpCommandsTest, object_add_errors) {
  EXPECT_EQ(c.ask(R"({"execute":"object-add","arguments":{"id":"o1"}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'qom-type' is missing"}})");
  EXPECT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object"}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'id' is missing"}})");
  EXPECT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"nosuch","id":"o1"}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'qom-type' does not accept value 'nosuch'"}})");
  EXPECT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object","id":"o1","bogus":1}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'bogus' is unexpected"}})");
  EXPECT_EQ(objects_container().child("o1"), nullptr);
}

TEST_F(QmpCommandsTest, object_del_refused_while_in_use) {
  ASSERT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object","id":"o2"}})"), R"({"return": {}})");
  static_cast<TestMonObject*>(objects_container().child("o2"))->in_use_ = true;
  EXPECT_EQ(c.ask(R"({"execute":"object-del","arguments":{"id":"o2"}})"),
            R"({"error": {"class": "GenericError", "desc": "object 'o2' is in use, can not be deleted"}})");
}

TEST_F(QmpCommandsTest, qom_list_shows_type_children_and_properties) {
  ASSERT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object","id":"o1"}})"), R"({"return": {}})");
  std::string objects = c.ask(R"({"execute":"qom-list","arguments":{"path":"/objects"}})");
  EXPECT_EQ(objects.rfind(R"({"return": [{"name": "type", "type": "string"}, )", 0), 0u) << objects;
  EXPECT_NE(objects.find(R"({"name": "o1", "type": "child<test-mon-object>"})"), std::string::npos) << objects;
  EXPECT_EQ(c.ask(R"({"execute":"qom-list","arguments":{"path":"/objects/o1"}})"),
            R"({"return": [{"name": "type", "type": "string"}, )"
            R"({"default-value": 3, "description": "How many", "name": "count", "type": "uint32"}, )"
            R"({"description": "A flag", "name": "flag", "type": "bool"}, {"name": "label", "type": "str"}]})");
}

TEST_F(QmpCommandsTest, qom_paths_not_found) {
  EXPECT_EQ(c.ask(R"({"execute":"qom-list","arguments":{"path":"/nope"}})"),
            R"({"error": {"class": "DeviceNotFound", "desc": "Device '/nope' not found"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/nope","property":"x"}})"),
            R"({"error": {"class": "DeviceNotFound", "desc": "Device '/nope' not found"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/objects","property":"nope"}})"),
            R"({"error": {"class": "GenericError", "desc": "Property 'container.nope' not found"}})");
}

TEST_F(QmpCommandsTest, qom_set_is_typed_and_checked) {
  ASSERT_EQ(c.ask(R"({"execute":"object-add","arguments":{"qom-type":"test-mon-object","id":"o1"}})"), R"({"return": {}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-set","arguments":{"path":"/objects/o1","property":"flag","value":true}})"),
            R"({"return": {}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/objects/o1","property":"flag"}})"), R"({"return": true})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-set","arguments":{"path":"/objects/o1","property":"flag","value":"x"}})"),
            R"({"error": {"class": "GenericError", "desc": "Invalid parameter type for 'flag', expected: boolean"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-set","arguments":{"path":"/objects/o1","property":"type","value":1}})"),
            R"({"error": {"class": "GenericError", "desc": "Property 'test-mon-object.type' is not writable"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-set","arguments":{"path":"/objects/o1","property":"nope","value":1}})"),
            R"({"error": {"class": "GenericError", "desc": "Property 'test-mon-object.nope' not found"}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-set","arguments":{"path":"/objects/o1","property":"flag"}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'value' is missing"}})");
}

TEST_F(QmpCommandsTest, qom_list_types_filters_by_interface_and_abstract) {
  EXPECT_EQ(c.ask(R"({"execute":"qom-list-types","arguments":{"implements":"test-mon-iface"}})"),
            R"({"return": [{"name": "test-mon-object", "parent": "test-mon-abstract"}]})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-list-types","arguments":{"implements":"test-mon-iface","abstract":true}})"),
            R"({"return": [{"abstract": true, "name": "test-mon-abstract", "parent": "object"}, )"
            R"({"name": "test-mon-object", "parent": "test-mon-abstract"}]})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-list-types","arguments":{"implements":"nosuch"}})"), R"({"return": []})");
}

TEST_F(QmpCommandsTest, device_list_properties) {
  EXPECT_EQ(c.ask(R"({"execute":"device-list-properties","arguments":{"typename":"test-mon-device"}})"),
            R"({"return": [{"default-value": 7, "description": "Level", "name": "level", "type": "uint32"}]})");
  EXPECT_EQ(c.ask(R"({"execute":"device-list-properties","arguments":{"typename":"nosuch"}})"),
            R"({"error": {"class": "DeviceNotFound", "desc": "Device 'nosuch' not found"}})");
  EXPECT_EQ(c.ask(R"({"execute":"device-list-properties","arguments":{"typename":"test-mon-object"}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'typename' expects a non-abstract device type"}})");
}

TEST_F(QmpCommandsTest, qom_list_properties) {
  EXPECT_EQ(c.ask(R"({"execute":"qom-list-properties","arguments":{"typename":"nosuch"}})"),
            R"({"error": {"class": "DeviceNotFound", "desc": "Class 'nosuch' not found"}})");
  std::string reply = c.ask(R"({"execute":"qom-list-properties","arguments":{"typename":"test-mon-object"}})");
  EXPECT_EQ(reply.rfind(R"({"return": [{"name": "type", "type": "string"}, {"default-value": 3)", 0), 0u) << reply;
}

TEST_F(QmpCommandsTest, device_add_then_device_del_and_deleted_event) {
  EXPECT_EQ(c.ask(R"({"execute":"device_add","arguments":{"driver":"test-mon-device","id":"d1","level":"9"}})"),
            R"({"return": {}})");
  EXPECT_EQ(c.ask(R"({"execute":"qom-get","arguments":{"path":"/machine/peripheral/d1","property":"level"}})"),
            R"({"return": 9})");
  EXPECT_EQ(c.ask(R"({"execute":"device_add","arguments":{"driver":"test-mon-device","id":"d1"}})"),
            R"({"error": {"class": "GenericError", "desc": "Duplicate device ID 'd1'"}})");
  // No bus here, so no unplug protocol: device_del is refused, and removal is direct.
  EXPECT_EQ(c.ask(R"({"execute":"device_del","arguments":{"id":"d1"}})"),
            R"({"error": {"class": "GenericError", "desc": "Device 'test-mon-device' does not support hotplugging"}})");
  device_remove(*find_device("d1"));
  EXPECT_EQ(c.lines(), (V{R"({"timestamp": T, "event": "DEVICE_DELETED", "data": {"device": "d1", "path": "/machine/peripheral/d1"}})"}));
  EXPECT_EQ(c.ask(R"({"execute":"device_del","arguments":{"id":"d1"}})"),
            R"({"error": {"class": "DeviceNotFound", "desc": "Device 'd1' not found"}})");
}

TEST_F(QmpCommandsTest, device_add_errors) {
  EXPECT_EQ(c.ask(R"({"execute":"device_add","arguments":{"id":"d1"}})"),
            R"({"error": {"class": "GenericError", "desc": "Parameter 'driver' is missing"}})");
  EXPECT_EQ(c.ask(R"({"execute":"device_add","arguments":{"driver":"test-mon-device","id":"d1","bogus":1}})"),
            R"({"error": {"class": "GenericError", "desc": "Property 'test-mon-device.bogus' not found"}})");
  EXPECT_EQ(c.ask(R"({"execute":"device_add","arguments":{"driver":"nosuch"}})"),
            R"({"error": {"class": "GenericError", "desc": "'nosuch' is not a valid device model name"}})");
}

class RunStateTest : public QmpCommandsTest {
 protected:
  void SetUp() override {
    QmpCommandsTest::SetUp();
    runstate_set(RunState::Prelaunch);
    set_shutdown_handler([this](ShutdownCause cause) { causes.push_back(std::string(shutdown_cause_name(cause))); });
  }
  void TearDown() override {
    set_shutdown_handler(nullptr);
    runstate_set(RunState::Prelaunch);
    QmpCommandsTest::TearDown();
  }
  std::vector<std::string> causes;
};

TEST_F(RunStateTest, stop_in_prelaunch_then_cont_then_stop) {
  EXPECT_EQ(c.send(R"({"execute":"stop"})"), (V{R"({"return": {}})"}));
  EXPECT_EQ(c.ask(R"({"execute":"query-status"})"),
            R"({"return": {"running": false, "singlestep": false, "status": "prelaunch"}})");
  EXPECT_EQ(c.send(R"({"execute":"cont"})"), (V{R"({"timestamp": T, "event": "RESUME"})", R"({"return": {}})"}));
  EXPECT_EQ(c.send(R"({"execute":"cont"})"), (V{R"({"return": {}})"}));
  EXPECT_EQ(c.ask(R"({"execute":"query-status"})"),
            R"({"return": {"running": true, "singlestep": false, "status": "running"}})");
  EXPECT_EQ(c.send(R"({"execute":"stop"})"), (V{R"({"timestamp": T, "event": "STOP"})", R"({"return": {}})"}));
  EXPECT_EQ(c.ask(R"({"execute":"query-status"})"),
            R"({"return": {"running": false, "singlestep": false, "status": "paused"}})");
}

TEST_F(RunStateTest, system_reset_and_powerdown_events) {
  EXPECT_EQ(c.send(R"({"execute":"system_reset"})"),
            (V{R"({"timestamp": T, "event": "RESET", "data": {"guest": false, "reason": "host-qmp-system-reset"}})",
               R"({"return": {}})"}));
  EXPECT_EQ(c.send(R"({"execute":"system_powerdown"})"),
            (V{R"({"timestamp": T, "event": "POWERDOWN"})", R"({"return": {}})"}));
}

TEST_F(RunStateTest, quit_sends_shutdown_before_the_reply) {
  EXPECT_EQ(c.send(R"({"execute":"quit","id":1})"),
            (V{R"({"timestamp": T, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}})",
               R"({"return": {}, "id": 1})"}));
  EXPECT_EQ(causes, V{"host-qmp-quit"});
  EXPECT_EQ(c.ask(R"({"execute":"cont"})"),
            R"({"error": {"class": "GenericError", "desc": "Resetting the Virtual Machine is required"}})");
}

TEST_F(RunStateTest, quit_while_running_sends_no_stop_event) {
  ASSERT_EQ(c.send(R"({"execute":"cont"})").size(), 2u);
  EXPECT_EQ(c.send(R"({"execute":"quit"})"),
            (V{R"({"timestamp": T, "event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}})",
               R"({"return": {}})"}));
  EXPECT_EQ(c.ask(R"({"execute":"query-status"})"),
            R"({"return": {"running": false, "singlestep": false, "status": "shutdown"}})");
}

TEST_F(QmpCommandsTest, oversize_request_is_answered_and_skipped) {
  std::string big = R"({"execute":"query-target","arguments":{"x":")" + std::string(JsonStreamSplitter::kDefaultMaxMessage, 'a') + R"("}})";
  EXPECT_EQ(c.send(big + "\n" + R"({"execute":"query-target"})"),
            (V{R"({"error": {"class": "GenericError", "desc": "JSON parse error, message exceeds 1048576 bytes"}})",
               R"({"return": {"arch": "x86_64"}})"}));
}

TEST_F(QmpCommandsTest, probes_libvirt_and_libqtest_make) {
  EXPECT_EQ(c.ask(R"({"execute":"query-target"})"), R"({"return": {"arch": "x86_64"}})");
  std::string cpus = c.ask(R"({"execute":"query-cpu-definitions"})");
  EXPECT_NE(cpus.find(R"("deprecated": false)"), std::string::npos) << cpus;
  std::string kvm = c.ask(R"({"execute":"query-kvm"})");
  EXPECT_EQ(kvm.rfind(R"({"return": {"enabled": false, "present": )", 0), 0u) << kvm;
  EXPECT_EQ(c.ask(R"({"execute":"query-command-line-options","arguments":{"option":"nosuch"}})"),
            R"({"error": {"class": "GenericError", "desc": "invalid option name: nosuch"}})");
  EXPECT_EQ(c.ask(R"({"execute":"query-command-line-options","arguments":{"option":"machine"}})"),
            R"({"return": [{"option": "machine", "parameters": []}]})");
  std::string machines = c.ask(R"({"execute":"query-machines"})");
  EXPECT_EQ(machines.rfind(R"({"return": [)", 0), 0u) << machines;
}

}  // namespace
}  // namespace nahanni
