// -chardev option checking, the legacy one-string form, QMP's chardev-add shape and the help
// texts: every message as QEMU 7.2 prints it.
#include <fcntl.h>
#include <netinet/in.h>

#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>

#include "chardev_test_util.h"
#include "qom/object.h"
#include "util/socket.h"

namespace nahanni::test {
namespace {

struct BadInput {
  std::string args;
  std::string message;
};

class ChardevBadOption : public testing::TestWithParam<BadInput> {};

TEST_P(ChardevBadOption, is_refused_with_qemus_message_and_leaves_nothing_behind) {
  main_loop();
  int fds_before = count_open_fds();
  EXPECT_EQ(add_cli_error(GetParam().args), GetParam().message);
  EXPECT_EQ(find_chardev("c"), nullptr);
  EXPECT_EQ(count_open_fds(), fds_before);
}

INSTANTIATE_TEST_SUITE_P(
    Qemu72, ChardevBadOption,
    testing::Values(
        BadInput{"socket,id=c", "Unable to parse FD number "},
        BadInput{"socket", "chardev: no id specified"},
        BadInput{"path=/x", "chardev: no id specified"},
        BadInput{"id=c", "chardev: \"c\" missing backend"},
        BadInput{"nosuch,id=c", "'nosuch' is not a valid char driver name"},
        BadInput{",id=c", "'' is not a valid char driver name"},
        BadInput{"socket,id=c,foo=1", "Invalid parameter 'foo'"},
        BadInput{"socket,foo=1", "Invalid parameter 'foo'"},
        BadInput{"null,id=c,local=zzz", "Invalid parameter 'local'"},
        BadInput{"null,id=1c", "Parameter 'id' expects an identifier"},
        BadInput{"nosuch,id=1c,foo=1", "Parameter 'id' expects an identifier"},
        BadInput{"socket,id=c,path=/nonexistent-dir/s", "Failed to connect to '/nonexistent-dir/s': No such file or directory"},
        BadInput{"socket,id=c,path=/tmp/x,host=localhost", "None or one of 'path', 'fd' or 'host' option required."},
        BadInput{"socket,id=c,fd=3,path=/tmp/x", "None or one of 'path', 'fd' or 'host' option required."},
        BadInput{"socket,id=c,host=localhost", "chardev: socket: no port given"},
        BadInput{"socket,id=c,host=x,wait=off", "chardev: socket: no port given"},
        BadInput{"socket,id=c,port=1234", "Unable to parse FD number "},
        BadInput{"socket,id=c,path=/tmp/x,server=maybe", "Parameter 'server' expects 'on' or 'off'"},
        BadInput{"socket,id=c,path=/tmp/x,server=", "Parameter 'server' expects 'on' or 'off'"},
        BadInput{"null,id=c,wait=zzz", "Parameter 'wait' expects 'on' or 'off'"},
        BadInput{"socket,id=c,path=/tmp/x,reconnect=abc", "Parameter 'reconnect' expects a number"},
        BadInput{"socket,reconnect=x", "Parameter 'reconnect' expects a number"},
        BadInput{"socket,id=c,path=/tmp/x,reconnect=", "Parameter 'reconnect' expects a number"},
        BadInput{"socket,id=c,path=/tmp/x,reconnect=99999999999999999999",
                 "Value '99999999999999999999' is too large for parameter 'reconnect'"},
        BadInput{"null,id=c,size=zzz", "Parameter 'size' expects a non-negative number below 2^64"},
        BadInput{"socket,id=c,path=/tmp/x,server=on,reconnect=1",
                 "'reconnect' option is incompatible with socket in server listen mode"},
        BadInput{"socket,id=c,path=/tmp/x,server=on,wait=off,reconnect=0",
                 "'reconnect' option is incompatible with socket in server listen mode"},
        BadInput{"socket,id=c,wait=off,server=on,reconnect=1", "'reconnect' option is incompatible with 'fd' address type"},
        BadInput{"socket,id=c,path=/tmp/x,wait=off", "'wait' option is incompatible with socket in client connect mode"},
        BadInput{"socket,id=c,path=/tmp/x,wait=on", "'wait' option is incompatible with socket in client connect mode"},
        BadInput{"socket,id=c,wait=off", "'wait' option is incompatible with socket in client connect mode"},
        BadInput{"socket,id=c,fd=abc", "Unable to parse FD number abc"},
        BadInput{"socket,id=c,fd=12abc", "Unable to parse FD number 12abc"},
        BadInput{"socket,id=c,fd=", "Unable to parse FD number "},
        BadInput{"socket,id=c,fd=-1", "File descriptor '-1' is not a socket"},
        BadInput{"socket,id=c,fd=0", "File descriptor '0' is not a socket"},
        BadInput{"socket,id=c,fd=999", "File descriptor '999' is not a socket"},
        BadInput{"socket,id=c,path=/nonexistent-dir/s,server=on,wait=off",
                 "Failed to bind socket to /nonexistent-dir/s: No such file or directory"},
        BadInput{"socket,id=c,host=,port=1", "address resolution failed for :1: Name or service not known"},
        BadInput{"file,id=c", "chardev: file: no filename given"},
        BadInput{"file,id=c,path=/nonexistent-dir/x", "Could not open '/nonexistent-dir/x': No such file or directory"},
        BadInput{"file,id=c,path=/tmp/", "Could not open '/tmp/': Is a directory"},
        BadInput{"file,id=c,path=/tmp/ff,append=maybe", "Parameter 'append' expects 'on' or 'off'"},
        BadInput{"file,id=c,path=/tmp/ff,bogus=1", "Invalid parameter 'bogus'"}));

TEST(ChardevOptions, invalid_id_carries_qemus_hint) {
  auto r = add_cli("null,id=1c");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().hint(), "Identifiers consist of letters, digits, '-', '.', '_', starting with a letter.");
}

TEST(ChardevOptions, keys_of_other_backends_are_accepted_as_qemu_does) {
  auto r = add_cli("null,id=c,path=/x,host=h,name=n,server=on,append=on");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ((*r)->type_name(), "chardev-null");
  EXPECT_EQ((*r)->path(), "/chardevs/c");
  EXPECT_TRUE(chardev_remove("c"));
}

TEST(ChardevOptions, duplicate_id_on_the_command_line_and_over_qmp) {
  ASSERT_TRUE(add_cli("null,id=c"));
  EXPECT_EQ(add_cli_error("nosuch,id=c"), "Duplicate ID 'c' for chardev");
  auto qmp = chardev_options_from_qmp(nlohmann::json::parse(R"({"id":"c","backend":{"type":"null","data":{}}})"));
  ASSERT_TRUE(qmp);
  auto r = chardev_add(std::move(*qmp), OptionSource::Qmp);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message(), "Chardev with id 'c' already exists");
  EXPECT_TRUE(chardev_remove("c"));
}

TEST(ChardevOptions, a_second_stdio_is_refused) {
  ASSERT_TRUE(add_cli("stdio,id=s1"));
  EXPECT_EQ(add_cli_error("stdio,id=s2"), "cannot use stdio by multiple character devices");
  EXPECT_TRUE(chardev_remove("s1"));
  ASSERT_TRUE(add_cli("stdio,id=s2"));  // free again once the first is gone
  EXPECT_TRUE(chardev_remove("s2"));
}

TEST(ChardevOptions, fd_that_is_not_a_socket) {
  UniqueFd file(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  std::string n = std::to_string(file.get());
  EXPECT_EQ(add_cli_error("socket,id=c,fd=" + n), "File descriptor '" + n + "' is not a socket");
  EXPECT_EQ(add_cli_error("socket,id=c,fd=" + n + ",server=on,wait=off"), "File descriptor '" + n + "' is not a socket");
}

TEST(ChardevOptions, tcp_port_in_use) {
  auto first = tcp_listen("127.0.0.1", "0");
  ASSERT_TRUE(first);
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  ::getsockname(first->get(), reinterpret_cast<sockaddr*>(&addr), &len);
  std::string port = std::to_string(ntohs(addr.sin_port));
  EXPECT_EQ(add_cli_error("socket,id=c,host=127.0.0.1,port=" + port + ",server=on,wait=off"),
            "Failed to find an available port: Address already in use");
}

TEST(ChardevOptions, remove_unknown_and_busy) {
  EXPECT_EQ(chardev_remove("zz").error().message(), "Chardev 'zz' not found");
  Chardev* c = *add_cli("null,id=c");
  Recorder rec;
  ASSERT_TRUE(c->attach(rec.frontend()));
  EXPECT_EQ(c->attach(rec.frontend()).error().message(), "Chardev 'c' is busy");
  EXPECT_EQ(chardev_remove("c").error().message(), "Chardev 'c' is busy");
  c->detach();
  EXPECT_TRUE(chardev_remove("c"));
  EXPECT_EQ(find_chardev("c"), nullptr);
}

TEST(ChardevHelp, backend_list_as_qemu_prints_it) {
  EXPECT_EQ(chardev_backend_help(), "Available chardev backend types: \n  stdio\n  null\n  socket\n  file\n");
}

TEST(ChardevHelp, option_table_lists_every_key_with_its_type) {
  std::string help = chardev_options_help();
  EXPECT_TRUE(help.starts_with("chardev options:\n  abstract=<bool (on/off)>\n  append=<bool (on/off)>\n  backend=<str>\n"));
  EXPECT_NE(help.find("\n  reconnect=<num>\n  rows=<num>\n  server=<bool (on/off)>\n"), std::string::npos);
  EXPECT_NE(help.find("\n  size=<size>\n"), std::string::npos);
  EXPECT_TRUE(help.ends_with("  websocket=<bool (on/off)>\n  width=<num>\n"));
  EXPECT_EQ(std::count(help.begin(), help.end(), '\n'), 38);
}

// The legacy one-string form (-qmp, -qtest, -serial, -monitor).
TEST(ChardevCompat, errors_as_qemu_words_them) {
  EXPECT_EQ(chardev_add_compat("foo", "m").error().message(), "'foo' is not a valid char driver");
  EXPECT_EQ(chardev_add_compat("tcp:localhost", "m").error().message(), "parse error: tcp:localhost");
  EXPECT_EQ(chardev_add_compat("tcp:localhost:", "m").error().message(), "parse error: tcp:localhost:");
  EXPECT_EQ(chardev_add_compat("unix:", "m").error().message(), "Unable to parse FD number ");
  EXPECT_EQ(chardev_add_compat("unix:/nonexistent-dir/s", "m").error().message(),
            "Failed to connect to '/nonexistent-dir/s': No such file or directory");
  EXPECT_EQ(chardev_add_compat("unix:/tmp/x,server=on,wait=off,bogus=1", "m").error().message(),
            "Invalid parameter 'bogus'");
  EXPECT_EQ(chardev_add_compat("chardev:nonexist", "m").error().message(), "chardev \"nonexist\" not found");
  EXPECT_EQ(find_chardev("m"), nullptr);
}

TEST(ChardevCompat, simple_backends_and_existing_chardevs) {
  ScratchDir dir;
  auto null = chardev_add_compat("null", "compat_monitor0");
  ASSERT_TRUE(null);
  EXPECT_EQ((*null)->type_name(), "chardev-null");
  auto same = chardev_add_compat("chardev:compat_monitor0", "ignored");
  ASSERT_TRUE(same);
  EXPECT_EQ(*same, *null);
  auto file = chardev_add_compat("file:" + dir.file("out.txt"), "f0");
  ASSERT_TRUE(file) << file.error().message();
  EXPECT_TRUE((*file)->write_all("hello"));
  EXPECT_TRUE(chardev_remove("f0"));
  std::ifstream in(dir.file("out.txt"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "hello");
  EXPECT_TRUE(chardev_remove("compat_monitor0"));
}

TEST(ChardevCompat, unix_server_and_tcp_forms) {
  ScratchDir dir;
  std::string path = dir.file("qmp.sock");
  auto server = chardev_add_compat("unix:" + path + ",server=on,wait=off", "compat_monitor0");
  ASSERT_TRUE(server) << server.error().message();
  EXPECT_FALSE((*server)->connected());
  auto client = chardev_add_compat("unix:" + path, "qtest");
  ASSERT_TRUE(client) << client.error().message();
  EXPECT_TRUE((*client)->connected());
  EXPECT_TRUE((*client)->supports_fd_passing());
  ASSERT_TRUE(pump_until([&] { return (*server)->connected(); }));
  EXPECT_TRUE(chardev_remove("qtest"));

  auto tcp = chardev_add_compat("tcp:127.0.0.1:0,server=on,wait=off", "t0");
  ASSERT_TRUE(tcp) << tcp.error().message();
  EXPECT_FALSE((*tcp)->supports_fd_passing());
  EXPECT_TRUE(chardev_remove("t0"));
  EXPECT_TRUE(chardev_remove("compat_monitor0"));
}

// QMP's chardev-add arguments.
Result<OptionList> from_qmp(std::string_view text) { return chardev_options_from_qmp(nlohmann::json::parse(text)); }
std::string qmp_error(std::string_view text) {
  auto r = from_qmp(text);
  if (!r) return r.error().message();
  auto added = chardev_add(std::move(*r), OptionSource::Qmp);
  return added ? "<no error>" : added.error().message();
}

TEST(ChardevQmp, socket_shape_becomes_the_flat_options) {
  auto opts = from_qmp(
      R"({"id":"c0","backend":{"type":"socket","data":{"addr":{"type":"unix","data":{"path":"/p"}},"server":false}}})");
  ASSERT_TRUE(opts) << opts.error().message();
  EXPECT_EQ(opts->find_text("backend"), "socket");
  EXPECT_EQ(opts->find_text("id"), "c0");
  EXPECT_EQ(opts->find_text("path"), "/p");
  EXPECT_EQ(opts->find_text("server"), "off");
  EXPECT_FALSE(opts->has("wait"));

  auto inet = from_qmp(
      R"({"id":"c1","backend":{"type":"socket","data":{"addr":{"type":"inet","data":{"host":"h","port":"4"}},"reconnect":2}}})");
  ASSERT_TRUE(inet);
  EXPECT_EQ(inet->find_text("host"), "h");
  EXPECT_EQ(inet->find_text("port"), "4");
  EXPECT_EQ(inet->find_text("server"), "on");  // QMP's default
  EXPECT_EQ(inet->find_text("reconnect"), "2");

  auto file = from_qmp(R"({"id":"f","backend":{"type":"file","data":{"out":"/o","append":true}}})");
  ASSERT_TRUE(file);
  EXPECT_EQ(file->find_text("path"), "/o");
  EXPECT_EQ(file->find_text("append"), "on");
}

TEST(ChardevQmp, schema_errors) {
  EXPECT_EQ(qmp_error(R"({"backend":{"type":"null","data":{}}})"), "Parameter 'id' is missing");
  EXPECT_EQ(qmp_error(R"({"id":"c"})"), "Parameter 'backend' is missing");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"null"}})"), "Parameter 'backend.data' is missing");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"bogus","data":{}}})"), "Parameter 'type' does not accept value 'bogus'");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"socket","data":{}}})"), "Parameter 'backend.data.addr' is missing");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"file","data":{}}})"), "Parameter 'backend.data.out' is missing");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"socket","data":{"addr":{"type":"unix","data":{"path":"/p"}},"bogus":1}}})"),
            "Parameter 'backend.data.bogus' is unexpected");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"socket","data":{"addr":{"type":"unix","data":{"path":"/p"}},"server":"no"}}})"),
            "Invalid parameter type for 'backend.data.server', expected: boolean");
  EXPECT_EQ(qmp_error(R"({"id":"c","backend":{"type":"socket","data":{"addr":{"type":"unix","data":{}}}}})"),
            "Parameter 'backend.data.addr.data.path' is missing");
}

TEST(ChardevQmp, backend_failures_name_the_chardev) {
  EXPECT_EQ(qmp_error(R"({"id":"c1","backend":{"type":"socket","data":{"addr":{"type":"unix","data":{"path":"/nonexistent-dir/s"}},"server":false}}})"),
            "Failed to add chardev 'c1': Failed to connect to '/nonexistent-dir/s': No such file or directory");
  EXPECT_EQ(qmp_error(R"({"id":"c11","backend":{"type":"socket","data":{"addr":{"type":"unix","data":{"path":"/p"}},"server":false,"wait":false}}})"),
            "Failed to add chardev 'c11': 'wait' option is incompatible with socket in client connect mode");
  EXPECT_EQ(qmp_error(R"({"id":"c8","backend":{"type":"socket","data":{"addr":{"type":"fd","data":{"str":"12"}},"server":false}}})"),
            "Failed to add chardev 'c8': File descriptor named '12' has not been found");
  EXPECT_EQ(find_chardev("c1"), nullptr);
}

TEST(ChardevQmp, fd_names_resolve_through_the_monitors_lookup) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  UniqueFd peer(sv[1]);
  UniqueFd mine(sv[0]);
  set_chardev_fd_lookup([&](std::string_view name) -> Result<UniqueFd> {
    if (name == "monfd") return std::move(mine);
    return Error("unknown");
  });
  EXPECT_EQ(qmp_error(R"({"id":"fdc","backend":{"type":"socket","data":{"addr":{"type":"fd","data":{"str":"monfd"}},"server":false}}})"),
            "<no error>");
  Chardev* c = find_chardev("fdc");
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(c->connected());
  EXPECT_TRUE(c->write_all("hi"));
  EXPECT_EQ(read_exact(peer.get(), 2), "hi");
  set_chardev_fd_lookup(nullptr);
  EXPECT_TRUE(chardev_remove("fdc"));
}

}  // namespace
}  // namespace nahanni::test
