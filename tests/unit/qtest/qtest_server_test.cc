// The qtest protocol server in-process: a hand-made address space, a fake interrupt controller,
// the virtual clock and an MSI log, driven line by line.
#include "system/qtest-server.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "accel/qtest-accel.h"
#include "hw/core/irq.h"
#include "qom/object.h"
#include "system/memory.h"
#include "system/virtual-clock.h"

namespace nahanni {
namespace {

class FakeIoapic : public Object, public IrqInputs {
 public:
  FakeIoapic() : IrqInputs(24) {}
};

class PlainObject : public Object {};

class QtestServerTest : public ::testing::Test {
 protected:
  QtestServerTest() {
    ram_.assign(kRamSize, 0);
    ram_region_ = MemoryRegion::ram("ram", kRamSize, ram_.data());
    mem_root_ = MemoryRegion::container("system", UINT64_MAX);
    mem_root_->add_subregion(0, ram_region_.get());
    mem_ = std::make_unique<AddressSpace>("memory", mem_root_.get(), 0);

    // Ports 0x80..0x83 remember what was written; 0x1000 reads a fixed pattern.
    port_region_ = MemoryRegion::io("ports", 4,
                                    MemoryRegionOps{
                                        .read = [this](uint64_t off, unsigned) { return ports_[off]; },
                                        .write = [this](uint64_t off, uint64_t v, unsigned size) {
                                          for (unsigned i = 0; i < size; ++i) ports_[off + i] = (v >> (8 * i)) & 0xff;
                                        },
                                        .max_access = 1,
                                    });
    pattern_region_ = MemoryRegion::io("pattern", 4,
                                       MemoryRegionOps{
                                           .read = [](uint64_t, unsigned) -> uint64_t { return 0x12378086; },
                                           .write = [](uint64_t, uint64_t, unsigned) {},
                                           .min_access = 4,
                                           .max_access = 4,
                                       });
    io_root_ = MemoryRegion::container("io", 0x10000);
    io_root_->add_subregion(0x80, port_region_.get());
    io_root_->add_subregion(0x1000, pattern_region_.get());
    io_ = std::make_unique<AddressSpace>("io", io_root_.get(), 0xff);

    start({});
  }

  void start(QtestLimits limits, std::string_view log = "none", bool with_clock = true) {
    server_.reset();
    QtestTarget target;
    target.memory = [this] { return mem_.get(); };
    target.io = [this] { return io_.get(); };
    target.resolve = [this](std::string_view path) -> Object* {
      if (path == "ioapic" || path == "/machine/ioapic") return &ioapic_;
      if (path == "/machine/other-ioapic") return &other_ioapic_;
      if (path == "/machine/plain") return &plain_;
      return nullptr;
    };
    if (with_clock) {
      target.clock = &clock_;
      target.msis = &msis_;
    }
    auto s = QtestServer::create(std::move(target), [this](std::string_view t) { out_ += t; }, log, limits);
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_ = std::move(*s);
    server_->opened();
  }

  // Sends one request and returns everything answered, newline-separated, without the last newline.
  std::string cmd(std::string_view line) {
    out_.clear();
    server_->receive(std::string(line) + "\n");
    std::string reply = out_;
    if (!reply.empty() && reply.back() == '\n') reply.pop_back();
    return reply;
  }

  static constexpr uint64_t kRamSize = 1 << 20;
  std::vector<uint8_t> ram_;
  std::map<uint64_t, uint8_t> ports_;
  // Containers first: members die in reverse order, so subregions leave live containers.
  std::unique_ptr<MemoryRegion> mem_root_, io_root_, ram_region_, port_region_, pattern_region_;
  std::unique_ptr<AddressSpace> mem_, io_;
  FakeIoapic ioapic_, other_ioapic_;
  PlainObject plain_;
  VirtualClock clock_;
  MsiLog msis_;
  std::string out_;
  std::unique_ptr<QtestServer> server_;
};

TEST_F(QtestServerTest, endianness_is_little) { EXPECT_EQ(cmd("endianness"), "OK little"); }

TEST_F(QtestServerTest, port_io_replies_with_four_hex_digits_at_least) {
  EXPECT_EQ(cmd("outb 0x80 0x12"), "OK");
  EXPECT_EQ(ports_[0], 0x12);
  EXPECT_EQ(cmd("inb 0x80"), "OK 0x0012");
  EXPECT_EQ(cmd("outw 0x80 0xbeef"), "OK");
  EXPECT_EQ(cmd("inw 0x80"), "OK 0xbeef");
  EXPECT_EQ(cmd("outl 0x80 0x01020304"), "OK");
  EXPECT_EQ(cmd("inl 0x80"), "OK 0x1020304");  // QEMU's %04x: a minimum width, not a fixed one
  EXPECT_EQ(cmd("inl 0x1000"), "OK 0x12378086");
  EXPECT_EQ(cmd("inw 0x1000"), "OK 0x8086");
  EXPECT_EQ(cmd("inb 0x3f8"), "OK 0x00ff");  // unassigned ports read all ones
  EXPECT_EQ(cmd("inl 0xffff"), "OK 0xffffffff");
}

TEST_F(QtestServerTest, values_wider_than_the_access_are_truncated) {
  EXPECT_EQ(cmd("outb 0x80 0x1ff"), "OK");
  EXPECT_EQ(cmd("inb 0x80"), "OK 0x00ff");
  EXPECT_EQ(cmd("writeb 0x10 0x1234"), "OK");
  EXPECT_EQ(cmd("readb 0x10"), "OK 0x0000000000000034");
}

TEST_F(QtestServerTest, memory_reads_reply_with_sixteen_hex_digits) {
  EXPECT_EQ(cmd("writeb 0x1000 0x01"), "OK");
  EXPECT_EQ(cmd("writew 0x1001 0x0302"), "OK");
  EXPECT_EQ(cmd("writel 0x1003 0x07060504"), "OK");
  EXPECT_EQ(cmd("writeq 0x1008 0x0f0e0d0c0b0a0908"), "OK");
  EXPECT_EQ(cmd("readb 0x1000"), "OK 0x0000000000000001");
  EXPECT_EQ(cmd("readw 0x1000"), "OK 0x0000000000000201");
  EXPECT_EQ(cmd("readl 0x1000"), "OK 0x0000000004030201");
  EXPECT_EQ(cmd("readq 0x1008"), "OK 0x0f0e0d0c0b0a0908");
  EXPECT_EQ(cmd("read 0x1000 0x4"), "OK 0x01020304");
  EXPECT_EQ(cmd("readq 0x200000"), "OK 0x0000000000000000");  // unassigned memory reads 0
}

TEST_F(QtestServerTest, read_write_and_base64_as_qemu_transcript) {
  EXPECT_EQ(cmd("writel 0x1000 0xdeadbeef"), "OK");
  EXPECT_EQ(cmd("read 0x1000 0x4"), "OK 0xefbeadde");
  EXPECT_EQ(cmd("b64read 0x1000 0x4"), "OK 776t3g==");
  EXPECT_EQ(cmd("write 0x1000 0x4 0x01020304"), "OK");
  EXPECT_EQ(cmd("readl 0x1000"), "OK 0x0000000004030201");
  EXPECT_EQ(cmd("b64write 0x2000 3 AQID"), "OK");
  EXPECT_EQ(cmd("read 0x2000 3"), "OK 0x010203");
}

TEST_F(QtestServerTest, numbers_accept_hex_octal_and_decimal) {
  EXPECT_EQ(cmd("writeb 4096 255"), "OK");
  EXPECT_EQ(cmd("readb 0x1000"), "OK 0x00000000000000ff");
  EXPECT_EQ(cmd("writeb 010000 0X7"), "OK");  // octal 010000 == 0x1000
  EXPECT_EQ(cmd("readb 0x1000"), "OK 0x0000000000000007");
}

TEST_F(QtestServerTest, write_zero_fills_bytes_the_data_does_not_cover) {
  EXPECT_EQ(cmd("memset 0x3000 8 0xaa"), "OK");
  EXPECT_EQ(cmd("write 0x3000 4 0x11"), "OK");
  EXPECT_EQ(cmd("read 0x3000 8"), "OK 0x11000000aaaaaaaa");
}

TEST_F(QtestServerTest, b64write_writes_exactly_size_bytes) {
  EXPECT_EQ(cmd("memset 0x3000 8 0xaa"), "OK");
  EXPECT_EQ(cmd("b64write 0x3000 2 AQIDBA=="), "OK");  // 4 bytes given, 2 written
  EXPECT_EQ(cmd("read 0x3000 4"), "OK 0x0102aaaa");
  EXPECT_EQ(cmd("b64write 0x3000 4 AQI="), "OK");  // 2 bytes given, zero-filled to 4
  EXPECT_EQ(cmd("read 0x3000 6"), "OK 0x01020000aaaa");
}

TEST_F(QtestServerTest, memset_fills_and_zero_size_does_nothing) {
  EXPECT_EQ(cmd("memset 0x4000 3 0x5a"), "OK");
  EXPECT_EQ(cmd("read 0x4000 4"), "OK 0x5a5a5a00");
  EXPECT_EQ(cmd("memset 0x4000 0 0x11"), "OK");
  EXPECT_EQ(cmd("read 0x4000 1"), "OK 0x5a");
}

TEST_F(QtestServerTest, large_transfers_up_to_the_limit) {
  std::string hex = "0x" + std::string(2 * 65536, 'c');
  EXPECT_EQ(cmd("write 0x10000 0x10000 " + hex), "OK");
  EXPECT_EQ(cmd("read 0x10000 0x10000"), "OK " + hex);
  EXPECT_EQ(cmd("memset 0 0x1000000 0"), "OK");  // the full 16 MiB, past RAM: ignored there
  EXPECT_EQ(cmd("read 0x10000 1"), "OK 0x00");
}

TEST_F(QtestServerTest, lines_may_arrive_split_and_several_at_once) {
  out_.clear();
  server_->receive(std::string_view("wri"));
  server_->receive(std::string_view("teb 0x10 0x"));
  EXPECT_EQ(out_, "");
  server_->receive(std::string_view("42\nreadb 0x10\nendian"));
  EXPECT_EQ(out_, "OK\nOK 0x0000000000000042\n");
  server_->receive(std::string_view("ness\r\n"));
  EXPECT_EQ(out_, "OK\nOK 0x0000000000000042\nOK little\n");
}

TEST_F(QtestServerTest, blank_lines_are_ignored_and_extra_spaces_allowed) {
  EXPECT_EQ(cmd(""), "");
  EXPECT_EQ(cmd("   "), "");
  EXPECT_EQ(cmd("\t"), "");
  EXPECT_EQ(cmd("  writeb   0x10\t0x5  "), "OK");
  EXPECT_EQ(cmd("readb 0x10"), "OK 0x0000000000000005");
}

TEST_F(QtestServerTest, clock_steps_to_deadlines_and_by_amounts) {
  EXPECT_EQ(cmd("clock_step"), "FAIL cannot advance clock to the next deadline because there is no pending deadline");
  int fired = 0;
  auto timer = clock_.add_timer(1000, [&] { ++fired; });
  EXPECT_EQ(cmd("clock_step"), "OK 1000");
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(cmd("clock_step 500"), "OK 1500");
  EXPECT_EQ(cmd("clock_set 2000"), "OK 2000");
  EXPECT_EQ(cmd("clock_set 100"), "FAIL 2000");  // time never goes back
  EXPECT_EQ(cmd("clock_step 0"), "OK 2000");
  EXPECT_EQ(cmd("clock_step 0x7fffffffffffffff"), "FAIL could not advance time");
  EXPECT_EQ(cmd("clock_step 0xffffffffffffffff"), "FAIL could not advance time");
  EXPECT_EQ(cmd("clock_set 0x8000000000000000"), "FAIL 2000");
  EXPECT_EQ(cmd("clock_step"), "FAIL cannot advance clock to the next deadline because there is no pending deadline");
}

TEST_F(QtestServerTest, clock_commands_exist_only_with_the_qtest_accelerator) {
  start({}, "none", false);
  EXPECT_EQ(cmd("clock_step"), "FAIL Unknown command 'clock_step'");
  EXPECT_EQ(cmd("clock_set 5"), "FAIL Unknown command 'clock_set'");
  EXPECT_EQ(cmd("msi_count"), "FAIL Unknown command 'msi_count'");
}

TEST_F(QtestServerTest, irq_intercept_reports_level_changes_only) {
  EXPECT_EQ(cmd("irq_intercept_in ioapic"), "OK");
  EXPECT_TRUE(ioapic_.intercepted());
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 3 1"), "IRQ raise 3\nOK");
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 3 1"), "OK");  // no change, no line
  EXPECT_EQ(cmd("set_irq_in /machine/ioapic unnamed-gpio-in 3 0"), "IRQ lower 3\nOK");
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 23 -1"), "IRQ raise 23\nOK");
  // A device raising its line between requests is reported asynchronously.
  out_.clear();
  ioapic_.set_irq(5, 1);
  EXPECT_EQ(out_, "IRQ raise 5\n");
  out_.clear();
  ioapic_.set_irq(5, 0);
  EXPECT_EQ(out_, "IRQ lower 5\n");
}

TEST_F(QtestServerTest, irq_intercept_failures_use_qemu_texts) {
  EXPECT_EQ(cmd("irq_intercept_in nosuch"), "FAIL Unknown device");
  EXPECT_EQ(cmd("irq_intercept_in /machine/plain"), "FAIL No intercepts installed");
  EXPECT_EQ(cmd("irq_intercept_out /machine/plain"), "FAIL No intercepts installed");
  EXPECT_EQ(cmd("irq_intercept_out nosuch"), "FAIL Unknown device");
  EXPECT_EQ(cmd("irq_intercept_in ioapic name"), "FAIL Interception of named in-GPIOs not yet supported");
  EXPECT_EQ(cmd("irq_intercept_in ioapic"), "OK");
  EXPECT_EQ(cmd("irq_intercept_in /machine/ioapic"), "OK");  // the same device again
  EXPECT_EQ(cmd("irq_intercept_in /machine/other-ioapic"), "FAIL IRQ intercept already enabled");
  EXPECT_EQ(cmd("irq_intercept_out /machine/other-ioapic"), "FAIL IRQ intercept already enabled");
}

TEST_F(QtestServerTest, set_irq_in_checks_device_list_and_line) {
  EXPECT_EQ(cmd("set_irq_in nosuch unnamed-gpio-in 0 1"), "FAIL Unknown device");
  EXPECT_EQ(cmd("set_irq_in ioapic named 0 1"), "FAIL Unknown GPIO list 'named'");
  EXPECT_EQ(cmd("set_irq_in /machine/plain unnamed-gpio-in 0 1"), "FAIL Unknown GPIO list 'unnamed-gpio-in'");
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 24 1"), "FAIL GPIO 24 out of range (the device has 24)");
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 2 x"), "FAIL invalid number 'x'");
  // Without interception the line is simply driven.
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 2 1"), "OK");
  EXPECT_EQ(ioapic_.irq_level(2), 1);
}

TEST_F(QtestServerTest, reconnecting_forgets_reported_levels) {
  EXPECT_EQ(cmd("irq_intercept_in ioapic"), "OK");
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 1 1"), "IRQ raise 1\nOK");
  server_->closed();
  server_->opened();
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 1 1"), "IRQ raise 1\nOK");
}

TEST_F(QtestServerTest, msi_extension_reports_count_and_last) {
  EXPECT_EQ(cmd("msi_count"), "OK 0");
  EXPECT_EQ(cmd("msi_last"), "FAIL no MSI delivered");
  msis_.record(0xfee00000, 0x4021);
  msis_.record(0xfee01000, 0x22);
  EXPECT_EQ(cmd("msi_count"), "OK 2");
  EXPECT_EQ(cmd("msi_last"), "OK 0x00000000fee01000 0x00000022");
  EXPECT_EQ(cmd("msi_clear"), "OK");
  EXPECT_EQ(cmd("msi_count"), "OK 0");
  EXPECT_EQ(cmd("msi_count 1"), "FAIL too many arguments; usage: msi_count");
}

// Every malformed request gets one answer, and the session goes on.
struct Malformed {
  const char* request;
  const char* reply;
};

class QtestMalformedTest : public QtestServerTest, public ::testing::WithParamInterface<Malformed> {};

TEST_P(QtestMalformedTest, is_answered_and_survived) {
  EXPECT_EQ(cmd(GetParam().request), GetParam().reply);
  EXPECT_EQ(cmd("writel 0x100 0x11223344"), "OK");
  EXPECT_EQ(cmd("readl 0x100"), "OK 0x0000000011223344");
}

const Malformed kMalformed[] = {
    {"outb", "FAIL usage: outb ADDR VALUE"},
    {"outb 0x80", "FAIL usage: outb ADDR VALUE"},
    {"outw 0x80 1 2", "FAIL too many arguments; usage: outw ADDR VALUE"},
    {"inb", "FAIL usage: inb ADDR"},
    {"inl 0x10000", "FAIL port address 0x10000 out of range (0x0..0xffff)"},
    {"outl 0xffffffffffff 0", "FAIL port address 0xffffffffffff out of range (0x0..0xffff)"},
    {"inb zz", "FAIL invalid number 'zz'"},
    {"inb 0x", "FAIL invalid number '0x'"},
    {"inb 08", "FAIL invalid number '08'"},
    {"inb -1", "FAIL invalid number '-1'"},
    {"outb 0x80 0x1g", "FAIL invalid number '0x1g'"},
    {"writeq 0x10 0x10000000000000000", "FAIL invalid number '0x10000000000000000'"},
    {"readq 99999999999999999999", "FAIL invalid number '99999999999999999999'"},
    {"readq 0xfffffffffffffffc", "FAIL address range wraps around the address space"},
    {"readl", "FAIL usage: readl ADDR"},
    {"writel 0x10", "FAIL usage: writel ADDR VALUE"},
    {"read 0x1000", "FAIL usage: read ADDR SIZE"},
    {"read 0x1000 0", "FAIL size must not be 0"},
    {"read 0x1000 0x1000001", "FAIL size 0x1000001 larger than the limit 0x1000000"},
    {"read 0 0xffffffffffffffff", "FAIL size 0xffffffffffffffff larger than the limit 0x1000000"},
    {"read 0xffffffffffffff00 0x200", "FAIL address range wraps around the address space"},
    {"b64read 0x1000 0", "FAIL size must not be 0"},
    {"b64read 0x1000 0x2000000", "FAIL size 0x2000000 larger than the limit 0x1000000"},
    {"write 0x1000 4", "FAIL usage: write ADDR SIZE 0xDATA"},
    {"write 0x1000 4 0x", "ERR invalid argument size"},
    {"write 0x1000 4 12", "ERR invalid argument size"},
    {"write 0x1000 4 0x123", "FAIL odd number of hex digits"},
    {"write 0x1000 4 0xzz", "FAIL invalid hex data"},
    {"write 0x1000 4 1234", "FAIL data must start with 0x"},
    {"write 0x1000 1 0x1122", "FAIL 2 bytes of data for size 1"},
    {"write 0x1000 0 0x11", "FAIL size must not be 0"},
    {"b64write 0x1000 4 AQ", "ERR invalid argument size"},
    {"b64write 0x1000 4 !!!!", "FAIL invalid base64 data"},
    {"b64write 0x1000 4 AQID=", "FAIL invalid base64 data"},
    {"b64write 0x1000", "FAIL usage: b64write ADDR SIZE BASE64"},
    {"memset 0x1000 4", "FAIL usage: memset ADDR SIZE VALUE"},
    {"memset 0x1000 0x1000001 0", "FAIL size 0x1000001 larger than the limit 0x1000000"},
    {"memset 0x1000 4 x", "FAIL invalid number 'x'"},
    {"endianness big", "FAIL too many arguments; usage: endianness"},
    {"clock_step abc", "FAIL invalid number 'abc'"},
    {"clock_step 1 2", "FAIL too many arguments; usage: clock_step [NS]"},
    {"clock_set", "FAIL usage: clock_set NS"},
    {"clock_set -5", "FAIL invalid number '-5'"},
    {"irq_intercept_in", "FAIL usage: irq_intercept_in QOM-PATH"},
    {"irq_intercept_out a b c", "FAIL too many arguments; usage: irq_intercept_out QOM-PATH [NAME]"},
    {"set_irq_in ioapic unnamed-gpio-in 1", "FAIL usage: set_irq_in QOM-PATH NAME NUM LEVEL"},
    {"set_irq_in ioapic unnamed-gpio-in 0xffffffffffffffff 1",
     "FAIL GPIO 18446744073709551615 out of range (the device has 24)"},
    {"nosuchcmd 1", "FAIL Unknown command 'nosuchcmd'"},
    {"OUTB 0x80 1", "FAIL Unknown command 'OUTB'"},
    {"\x01\x02\xff\xfe garbage", "FAIL Unknown command '\\x01\\x02\\xff\\xfe'"},
    {"\x80\x81\x82\x83\x84\x85\x86\x87\x88\x89\x8a\x8b\x8c\x8d\x8e\x8f\x90\x91",
     "FAIL Unknown command '\\x80\\x81\\x82\\x83\\x84\\x85\\x86\\x87\\x88\\x89\\x8a\\x8b\\x8c\\x8d\\x8e\\x8f...'"},
    {"back\\slash", "FAIL Unknown command 'back\\x5cslash'"},
};

INSTANTIATE_TEST_SUITE_P(Requests, QtestMalformedTest, ::testing::ValuesIn(kMalformed));

TEST_F(QtestServerTest, nul_bytes_in_a_line_are_answered) {
  out_.clear();
  server_->receive(std::string_view("in\0b 0x80\n", 10));
  EXPECT_EQ(out_, "FAIL Unknown command 'in\\x00b'\n");
  EXPECT_EQ(cmd("endianness"), "OK little");
}

TEST_F(QtestServerTest, overlong_lines_are_discarded_with_one_reply) {
  start(QtestLimits{.max_line = 64, .max_data = 16});
  out_.clear();
  server_->receive(std::string(40, 'a'));
  server_->receive(std::string(40, 'b'));
  server_->receive(std::string(1000, 'c'));
  EXPECT_EQ(out_, "");
  server_->receive(std::string_view("ccc\nendianness\n"));
  EXPECT_EQ(out_, "FAIL line longer than 64 bytes\nOK little\n");
  EXPECT_EQ(cmd(std::string(65, 'x')), "FAIL line longer than 64 bytes");
  EXPECT_EQ(cmd(std::string(64, 'x')), "FAIL Unknown command '" + std::string(64, 'x') + "'");
  EXPECT_EQ(cmd(std::string(63, 'x') + "\x01"), "FAIL Unknown command '" + std::string(63, 'x') + "\\x01'");
  EXPECT_EQ(cmd("read 0 17"), "FAIL size 0x11 larger than the limit 0x10");
}

TEST_F(QtestServerTest, default_line_limit_holds_a_full_size_write) {
  QtestLimits limits;
  EXPECT_GT(limits.max_line, 2 * limits.max_data + 64);
  std::string line = "write 0 0x1000000 0x" + std::string(2 * (16u << 20), '0');
  EXPECT_EQ(cmd(line), "OK");
}

TEST_F(QtestServerTest, log_has_qemu_format) {
  std::string path = ::testing::TempDir() + "/qtest-server-test.log";
  start({}, path);
  EXPECT_EQ(cmd("irq_intercept_in ioapic"), "OK");
  EXPECT_EQ(cmd("set_irq_in ioapic unnamed-gpio-in 4 1"), "IRQ raise 4\nOK");
  server_->opened();  // a repeated event changes nothing
  server_->closed();
  server_->closed();
  server_.reset();
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) {
    // Blank out the times: "[R +0.000012] x" -> "[R] x".
    auto plus = l.find(" +");
    auto close = l.find(']');
    if (plus != std::string::npos && close != std::string::npos && plus < close) l.erase(plus, close - plus);
    lines.push_back(l);
  }
  std::vector<std::string> expected = {
      "[I 0.000000] OPENED",
      "[R] irq_intercept_in ioapic",
      "[S] OK",
      "[R] set_irq_in ioapic unnamed-gpio-in 4 1",
      "[S] IRQ raise 4",
      "[S] OK",
      "[I] CLOSED",
  };
  EXPECT_EQ(lines, expected);
  std::remove(path.c_str());
}

TEST_F(QtestServerTest, unwritable_log_is_an_error) {
  auto s = QtestServer::create({}, {}, "/nonexistent-dir/qtest.log");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message(), "can't open qtest log file '/nonexistent-dir/qtest.log': No such file or directory");
}

TEST_F(QtestServerTest, machine_without_memory_reads_unassigned) {
  auto s = QtestServer::create(QtestTarget{}, [this](std::string_view t) { out_ += t; }, "none");
  ASSERT_TRUE(s.ok());
  server_ = std::move(*s);
  EXPECT_EQ(cmd("readl 0x1000"), "OK 0x0000000000000000");
  EXPECT_EQ(cmd("inb 0x80"), "OK 0x00ff");
  EXPECT_EQ(cmd("writel 0x1000 1"), "OK");
  EXPECT_EQ(cmd("irq_intercept_in ioapic"), "FAIL Unknown device");
}

// Random requests built from real command words, numbers and junk bytes: every non-blank line
// gets exactly one reply line, and nothing crashes.
TEST_F(QtestServerTest, random_requests_each_get_one_reply) {
  start(QtestLimits{.max_line = 4096, .max_data = 4096});
  EXPECT_EQ(cmd("irq_intercept_in ioapic"), "OK");
  const std::vector<std::string> words = {
      "outb", "outw", "outl", "inb", "inw", "inl", "readb", "readw", "readl", "readq", "writeb", "writew",
      "writel", "writeq", "read", "write", "b64read", "b64write", "memset", "endianness", "clock_step",
      "clock_set", "irq_intercept_in", "irq_intercept_out", "set_irq_in", "msi_count", "msi_last", "msi_clear",
      "ioapic", "unnamed-gpio-in", "0", "1", "0x10", "0xffff", "0x10000", "-1", "0x", "0xzz", "AQID", "====",
      "0xffffffffffffffff", "4096", "4097", "010", "09"};
  std::mt19937 rng(12345);
  int ok = 0, failed = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string line;
    int n = static_cast<int>(rng() % 6);
    for (int i = 0; i < n; ++i) {
      if (i) line += (rng() % 4 == 0) ? "  " : " ";
      if (rng() % 5 == 0) {
        int len = static_cast<int>(rng() % 8) + 1;
        for (int k = 0; k < len; ++k) {
          char c = static_cast<char>(rng() % 256);
          if (c != '\n') line += c;
        }
      } else {
        line += words[rng() % words.size()];
      }
    }
    bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
    std::string out = cmd(line);
    std::vector<std::string> replies;
    std::istringstream lines(out);
    for (std::string l; std::getline(lines, l);)
      if (l.rfind("IRQ ", 0) != 0) replies.push_back(l);
    ASSERT_EQ(replies.size(), blank ? 0u : 1u) << "request: " << line << "\nreplies: " << out;
    if (!blank) {
      const std::string& r = replies[0];
      ASSERT_TRUE(r == "OK" || r.rfind("OK ", 0) == 0 || r.rfind("FAIL ", 0) == 0 || r.rfind("ERR ", 0) == 0) << r;
      (r.rfind("OK", 0) == 0 ? ok : failed)++;
    }
  }
  // The mix exercises both paths (the counts are fixed by the seed).
  EXPECT_GT(ok, 20);
  EXPECT_GT(failed, 1000);
  EXPECT_EQ(cmd("endianness"), "OK little");
}

}  // namespace
}  // namespace nahanni
