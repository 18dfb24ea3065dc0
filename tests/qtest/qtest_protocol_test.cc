// The qtest protocol end to end: nahanni-system-x86_64 -accel qtest on the pc machine, driven the
// way QEMU's libqtest drives QEMU. Replies are compared exactly; after every malformed request a
// valid one must still work.
#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include <cstdio>
#include <fstream>
#include <memory>

#include "libqtest.h"
#include "pci.h"
#include "util/socket.h"

namespace nahanni::qtest {
namespace {

// One emulator for the suite's stateless tests, started by the first test that needs it (a start
// failure fails that test rather than skipping the rest).
class QtestProtocol : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!qts_) qts_ = std::make_unique<QTestState>(kMachineArgs);
  }
  static void TearDownTestSuite() {
    if (!qts_) return;
    ExitStatus s = qts_->quit();
    EXPECT_TRUE(s.success()) << s.describe() << "\n" << qts_->stderr_text();
    qts_.reset();
  }
  static constexpr const char* kMachineArgs = "-machine pc";
  static std::unique_ptr<QTestState> qts_;
};
std::unique_ptr<QTestState> QtestProtocol::qts_;

TEST_F(QtestProtocol, qemu_transcript_on_pc) {
  QTestState& q = *qts_;
  EXPECT_EQ(q.command("endianness"), "OK little");
  EXPECT_EQ(q.command("outl 0xcf8 0x80000000"), "OK");
  EXPECT_EQ(q.command("inl 0xcfc"), "OK 0x12378086");
  EXPECT_EQ(q.command("inw 0xcfc"), "OK 0x8086");
  EXPECT_EQ(q.command("outw 0x510 0x3"), "OK");  // fw_cfg: RAM size, little endian
  std::vector<std::string> bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(q.command("inb 0x511"));
  EXPECT_EQ(bytes, (std::vector<std::string>{"OK 0x0000", "OK 0x0000", "OK 0x0000", "OK 0x0008", "OK 0x0000",
                                             "OK 0x0000", "OK 0x0000", "OK 0x0000"}));
  EXPECT_EQ(q.command("writel 0x1000 0xdeadbeef"), "OK");
  EXPECT_EQ(q.command("read 0x1000 0x4"), "OK 0xefbeadde");
  EXPECT_EQ(q.command("b64read 0x1000 0x4"), "OK 776t3g==");
  EXPECT_EQ(q.command("write 0x1000 0x4 0x01020304"), "OK");
  EXPECT_EQ(q.command("readl 0x1000"), "OK 0x0000000004030201");
  EXPECT_EQ(q.command("nosuchcmd 1"), "FAIL Unknown command 'nosuchcmd'");
}

TEST_F(QtestProtocol, typed_helpers_round_trip_through_ram) {
  QTestState& q = *qts_;
  q.writeb(0x2000, 0x11);
  q.writew(0x2002, 0x2233);
  q.writel(0x2004, 0x44556677);
  q.writeq(0x2008, 0x8899aabbccddeeffull);
  EXPECT_EQ(q.readb(0x2000), 0x11);
  EXPECT_EQ(q.readw(0x2002), 0x2233);
  EXPECT_EQ(q.readl(0x2004), 0x44556677u);
  EXPECT_EQ(q.readq(0x2008), 0x8899aabbccddeeffull);
  std::vector<uint8_t> data = {1, 2, 3, 4, 5, 6, 7};
  q.memwrite(0x3000, data);
  EXPECT_EQ(q.memread(0x3000, 7), data);
  q.bufwrite(0x3100, data);
  EXPECT_EQ(q.bufread(0x3100, 7), data);
  q.memset(0x3000, 4, 0xab);
  EXPECT_EQ(q.memread(0x3000, 5), (std::vector<uint8_t>{0xab, 0xab, 0xab, 0xab, 5}));
}

TEST_F(QtestProtocol, a_full_size_transfer_crosses_the_socket) {
  QTestState& q = *qts_;
  q.memset(0x100000, 16u << 20, 0x5a);
  std::vector<uint8_t> got = q.bufread(0x100000, 16u << 20);
  ASSERT_EQ(got.size(), 16u << 20);
  EXPECT_EQ(got.front(), 0x5a);
  EXPECT_EQ(got.back(), 0x5a);
  EXPECT_EQ(q.command("b64read 0x100000 0x1000001"), "FAIL size 0x1000001 larger than the limit 0x1000000");
}

TEST_F(QtestProtocol, lines_split_and_batched_across_writes) {
  QTestState& q = *qts_;
  q.send_raw("writeb 0x4000 0x");
  q.send_raw("7f\nreadb 0x4000\nendian");
  EXPECT_EQ(q.reply(), "OK");
  EXPECT_EQ(q.reply(), "OK 0x000000000000007f");
  q.send_raw("ness\n\n   \n");
  EXPECT_EQ(q.reply(), "OK little");
  EXPECT_EQ(q.command("readb 0x4000"), "OK 0x000000000000007f");
}

TEST_F(QtestProtocol, clock_moves_only_when_told) {
  QTestState& q = *qts_;
  std::string r = q.command("clock_step 100");
  ASSERT_EQ(r.rfind("OK ", 0), 0u) << r;
  int64_t now = std::stoll(r.substr(3));
  EXPECT_EQ(q.command("clock_step 0"), "OK " + std::to_string(now));
  EXPECT_EQ(q.clock_set(now + 1000), now + 1000);
  EXPECT_EQ(q.command("clock_set 0"), "FAIL " + std::to_string(now + 1000));
  EXPECT_EQ(q.command("clock_step 0xffffffffffffffff"), "FAIL could not advance time");
}

TEST_F(QtestProtocol, msi_writes_are_recorded) {
  QTestState& q = *qts_;
  EXPECT_EQ(q.command("msi_clear"), "OK");
  EXPECT_EQ(q.command("msi_last"), "FAIL no MSI delivered");
  EXPECT_EQ(q.command("writel 0xfee00000 0x4021"), "OK");
  EXPECT_EQ(q.command("writel 0xfee0100c 0x22"), "OK");
  EXPECT_EQ(q.msi_count(), 2u);
  EXPECT_EQ(q.command("msi_last"), "OK 0x00000000fee0100c 0x00000022");
}

TEST_F(QtestProtocol, pci_config_space_at_any_width_and_offset) {
  QTestState& q = *qts_;
  PciBus bus(q);
  auto host = bus.find(0x8086, 0x1237);
  ASSERT_TRUE(host);
  EXPECT_EQ(host->devfn(), 0);
  EXPECT_EQ(host->config_readb(0), 0x86);
  EXPECT_EQ(host->config_readb(1), 0x80);
  EXPECT_EQ(host->config_readw(2), 0x1237);
  EXPECT_EQ(host->config_readb(3), 0x12);
  EXPECT_EQ(bus.device_at(31, 7).vendor_id(), 0xffff);  // absent functions read all ones
  EXPECT_FALSE(bus.find(0x1af4, 0xdead));
}

// The second connection keeps its own IRQ state; a fresh instance makes the interception test
// independent of the suite's shared one.
TEST(QtestIrq, intercepted_ioapic_lines_report_raise_and_lower) {
  QTestState q("-machine pc");
  EXPECT_EQ(q.command("irq_intercept_in nosuch"), "FAIL Unknown device");
  EXPECT_EQ(q.command("irq_intercept_in ioapic name"), "FAIL Interception of named in-GPIOs not yet supported");
  EXPECT_EQ(q.command("irq_intercept_in ioapic"), "OK");
  EXPECT_EQ(q.command("irq_intercept_in /machine/ioapic"), "OK");
  q.send_raw("set_irq_in ioapic unnamed-gpio-in 10 1\n");
  EXPECT_EQ(q.next_line(), "IRQ raise 10");
  EXPECT_EQ(q.next_line(), "OK");
  EXPECT_TRUE(q.get_irq(10));
  EXPECT_EQ(q.command("set_irq_in ioapic unnamed-gpio-in 10 1"), "OK");  // no change, no line
  q.send_raw("set_irq_in /machine/ioapic unnamed-gpio-in 10 0\n");
  EXPECT_EQ(q.next_line(), "IRQ lower 10");
  EXPECT_EQ(q.next_line(), "OK");
  EXPECT_FALSE(q.get_irq(10));
  EXPECT_EQ(q.command("set_irq_in ioapic unnamed-gpio-in 24 1"), "FAIL GPIO 24 out of range (the device has 24)");
  EXPECT_TRUE(q.quit().success());
}

struct Malformed {
  const char* request;
  const char* reply;
};

// Test names end up in XML reports: control bytes are shown escaped.
void PrintTo(const Malformed& m, std::ostream* os) {
  static constexpr char kHex[] = "0123456789abcdef";
  *os << '"';
  for (const char* p = m.request; *p; ++p) {
    auto c = static_cast<unsigned char>(*p);
    if (c >= 0x20 && c < 0x7f && c != '<' && c != '>' && c != '&' && c != '"') *os << *p;
    else *os << "\\x" << kHex[c >> 4] << kHex[c & 15];
  }
  *os << '"';
}

class QtestMalformed : public QtestProtocol, public ::testing::WithParamInterface<Malformed> {};

TEST_P(QtestMalformed, is_answered_and_survived) {
  EXPECT_EQ(qts_->command(GetParam().request), GetParam().reply);
  EXPECT_EQ(qts_->command("endianness"), "OK little");
}

const Malformed kMalformed[] = {
    {"outb", "FAIL usage: outb ADDR VALUE"},
    {"outl 0xcf8", "FAIL usage: outl ADDR VALUE"},
    {"outw 0x80 1 2", "FAIL too many arguments; usage: outw ADDR VALUE"},
    {"inb", "FAIL usage: inb ADDR"},
    {"inl 0x10000", "FAIL port address 0x10000 out of range (0x0..0xffff)"},
    {"inb zz", "FAIL invalid number 'zz'"},
    {"inb 0x", "FAIL invalid number '0x'"},
    {"inb 09", "FAIL invalid number '09'"},
    {"inw -1", "FAIL invalid number '-1'"},
    {"writeq 0 0x10000000000000000", "FAIL invalid number '0x10000000000000000'"},
    {"readq 0xfffffffffffffffc", "FAIL address range wraps around the address space"},
    {"readl", "FAIL usage: readl ADDR"},
    {"writel 0x10", "FAIL usage: writel ADDR VALUE"},
    {"read 0x1000", "FAIL usage: read ADDR SIZE"},
    {"read 0x1000 0", "FAIL size must not be 0"},
    {"read 0 0xffffffffffffffff", "FAIL size 0xffffffffffffffff larger than the limit 0x1000000"},
    {"b64read 0x1000 0", "FAIL size must not be 0"},
    {"write 0x1000 4 0x", "ERR invalid argument size"},
    {"write 0x1000 4 0x123", "FAIL odd number of hex digits"},
    {"write 0x1000 4 0xzz", "FAIL invalid hex data"},
    {"write 0x1000 1 0x1122", "FAIL 2 bytes of data for size 1"},
    {"write 0x1000 4", "FAIL usage: write ADDR SIZE 0xDATA"},
    {"b64write 0x1000 4 AQ", "ERR invalid argument size"},
    {"b64write 0x1000 4 !!!!", "FAIL invalid base64 data"},
    {"memset 0x1000 4", "FAIL usage: memset ADDR SIZE VALUE"},
    {"memset 0x1000 0x1000001 0", "FAIL size 0x1000001 larger than the limit 0x1000000"},
    {"endianness big", "FAIL too many arguments; usage: endianness"},
    {"clock_step abc", "FAIL invalid number 'abc'"},
    {"clock_set", "FAIL usage: clock_set NS"},
    {"irq_intercept_in", "FAIL usage: irq_intercept_in QOM-PATH"},
    {"set_irq_in ioapic unnamed-gpio-in 1", "FAIL usage: set_irq_in QOM-PATH NAME NUM LEVEL"},
    {"set_irq_in nosuch unnamed-gpio-in 1 1", "FAIL Unknown device"},
    {"nosuchcmd", "FAIL Unknown command 'nosuchcmd'"},
    {"\x01\x02\xff garbage", "FAIL Unknown command '\\x01\\x02\\xff'"},
    {"module_load a b", "FAIL Unknown command 'module_load'"},
};

INSTANTIATE_TEST_SUITE_P(Requests, QtestMalformed, ::testing::ValuesIn(kMalformed));

TEST_F(QtestProtocol, nul_bytes_and_crlf_are_answered) {
  QTestState& q = *qts_;
  q.send_raw(std::string_view("in\0b 0x80\n", 10));
  EXPECT_EQ(q.reply(), "FAIL Unknown command 'in\\x00b'");
  EXPECT_EQ(q.command("endianness\r"), "OK little");
}

// QMP's malformed inputs, with QEMU's texts; each followed by a working command.
struct MalformedQmp {
  const char* request;
  const char* error_class;
  const char* desc;
};

void PrintTo(const MalformedQmp& m, std::ostream* os) { *os << m.request; }

class QmpMalformed : public QtestProtocol, public ::testing::WithParamInterface<MalformedQmp> {};

TEST_P(QmpMalformed, is_answered_and_survived) {
  qts_->qmp_send_raw(std::string(GetParam().request) + "\n");
  nlohmann::json r = qts_->qmp_receive();
  ASSERT_TRUE(r.contains("error")) << r.dump();
  EXPECT_EQ(r["error"]["class"], GetParam().error_class);
  EXPECT_EQ(r["error"]["desc"], GetParam().desc);
  nlohmann::json ok = qts_->qmp(R"({"execute": "query-status"})");
  EXPECT_TRUE(ok.contains("return")) << ok.dump();
}

const MalformedQmp kMalformedQmp[] = {
    {R"({"execute": "nosuch"})", "CommandNotFound", "The command nosuch has not been found"},
    {R"([1, 2])", "GenericError", "QMP input must be a JSON object"},
    {R"({"arguments": {}})", "GenericError", "QMP input lacks member 'execute'"},
    {R"({"execute": "query-status", "bogus": 1})", "GenericError", "QMP input member 'bogus' is unexpected"},
    {R"({"execute": "query-status", "arguments": {"x": 1}})", "GenericError", "Parameter 'x' is unexpected"},
    {R"({"execute": "device_del", "arguments": {}})", "GenericError", "Parameter 'id' is missing"},
    {R"({"execute": "device_del", "arguments": {"id": 5}})", "GenericError",
     "Invalid parameter type for 'id', expected: string"},
    {R"({"execute": "device_del", "arguments": {"id": "nope"}})", "DeviceNotFound", "Device 'nope' not found"},
    {R"({"execute": "qmp_capabilities"})", "CommandNotFound",
     "Capabilities negotiation is already complete, command ignored"},
};

INSTANTIATE_TEST_SUITE_P(Requests, QmpMalformed, ::testing::ValuesIn(kMalformedQmp));

TEST(QtestMachineNone, empty_spaces_and_no_ioapic) {
  QTestState q("-machine none");
  EXPECT_EQ(q.command("readl 0x1000"), "OK 0x0000000000000000");
  EXPECT_EQ(q.command("inb 0x80"), "OK 0x00ff");
  EXPECT_EQ(q.command("irq_intercept_in ioapic"), "FAIL Unknown device");
  EXPECT_TRUE(q.quit().success());
}

TEST(QtestLifecycle, sigterm_ends_the_emulator_cleanly) {
  QTestState q("-machine pc");
  ExitStatus s = q.quit();
  EXPECT_EQ(s, (ExitStatus{.exited = true, .code = 0}));
  EXPECT_FALSE(q.was_killed());
  EXPECT_EQ(q.unexpected_stderr(), "");
  EXPECT_NE(q.stderr_text().find(": terminating on signal 15 from pid "), std::string::npos) << q.stderr_text();
}

TEST(QtestLifecycle, a_stopped_emulator_is_killed) {
  QTestState::Options o;
  o.quit_grace = std::chrono::milliseconds(500);
  QTestState q("-machine pc", o);
  ::kill(q.pid(), SIGSTOP);  // a hung emulator: SIGTERM stays pending
  ExitStatus s = q.quit();
  EXPECT_TRUE(q.was_killed());
  EXPECT_EQ(s.signal, SIGKILL);
}

TEST(QtestLifecycle, unreachable_qtest_socket_is_an_error) {
  RunResult r = run_emulator("-machine pc -accel qtest -qtest unix:/nonexistent-dir/q.sock -display none");
  EXPECT_EQ(r.status, (ExitStatus{.exited = true, .code = 1}));
  EXPECT_NE(r.err.find("-qtest unix:/nonexistent-dir/q.sock: "), std::string::npos) << r.err;
}

TEST(QtestLifecycle, qtest_log_records_requests_and_replies) {
  std::string path = ::testing::TempDir() + "/qtest-protocol-test.log";
  {
    QTestState q("-machine none -qtest-log " + path);  // the later -qtest-log wins
    EXPECT_EQ(q.command("inb 0x80"), "OK 0x00ff");
    EXPECT_TRUE(q.quit().success());
  }
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    // "[R +0.000012] x" -> "[R] x": times vary.
    auto plus = l.find(" +");
    auto close = l.find(']');
    if (plus != std::string::npos && close != std::string::npos && plus < close) l.erase(plus, close - plus);
    lines.push_back(l);
  }
  std::vector<std::string> expected = {"[I 0.000000] OPENED", "[R] endianness", "[S] OK little", "[R] inb 0x80",
                                       "[S] OK 0x00ff"};
  ASSERT_GE(lines.size(), expected.size());
  lines.resize(expected.size());  // a CLOSED line may follow, if the emulator saw the hang-up
  EXPECT_EQ(lines, expected);
  std::remove(path.c_str());
}

// "-qtest chardev:ID" on a -chardev of our own, without libqtest.
TEST(QtestLifecycle, qtest_on_a_named_chardev) {
  std::string path = ::testing::TempDir() + "/qtest-chardev-" + std::to_string(getpid()) + ".sock";
  auto listener = unix_listen(path, 1);
  ASSERT_TRUE(listener.ok()) << listener.error().message();
  ChildProcess child = ChildProcess::spawn(emulator_binary() + " -machine none -display none -chardev socket,path=" +
                                           path + ",id=qt -qtest chardev:qt -qtest-log none -accel qtest");
  struct pollfd p = {listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1);
  UniqueFd conn(accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(conn.valid());
  ::unlink(path.c_str());
  std::string request = "endianness\nclock_step 7\n";
  ASSERT_EQ(::write(conn.get(), request.data(), request.size()), static_cast<ssize_t>(request.size()));
  std::string got;
  while (std::count(got.begin(), got.end(), '\n') < 2) {
    p = {conn.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 30000), 1);
    char buf[256];
    ssize_t n = ::read(conn.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got, "OK little\nOK 7\n");
  ExitStatus s = child.terminate(std::chrono::seconds(10));
  EXPECT_TRUE(s.success()) << s.describe();
}

TEST(QtestLifecycle, unwritable_qtest_log_is_an_error) {
  QTestState::Options o;
  EXPECT_THROW(QTestState("-qtest-log /nonexistent-dir/log", o), QTestError);
}

}  // namespace
}  // namespace nahanni::qtest
