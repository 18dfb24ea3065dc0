// isa-serial and -serial end to end through the qtest accelerator: the 16550A's registers at
// the standard ports, loopback, bytes reaching a file or socket chardev, bytes from a socket
// reaching RBR with the IOAPIC input raised, and the command-line errors.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boot-test-support.h"
#include "libqtest.h"
#include "util/socket.h"

namespace nahanni::qtest {
namespace {

using namespace boottest;

constexpr uint16_t kCom1 = 0x3f8, kCom2 = 0x2f8;
constexpr uint16_t kThr = 0, kIer = 1, kIir = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6, kScr = 7;

TEST(IsaSerialTest, reset_values_scratch_and_divisor_latch) {
  QTestState qts("-serial null");
  EXPECT_EQ(qts.inb(kCom1 + kIir), 0x01);
  EXPECT_EQ(qts.inb(kCom1 + kLsr), 0x60);
  EXPECT_EQ(qts.inb(kCom1 + kMcr), 0x08);
  EXPECT_EQ(qts.inb(kCom1 + kMsr), 0xb0);
  qts.outb(kCom1 + kScr, 0xa5);
  EXPECT_EQ(qts.inb(kCom1 + kScr), 0xa5);
  qts.outb(kCom1 + kLcr, 0x83);
  qts.outb(kCom1 + kThr, 0x01);  // DLL: 115200 baud
  qts.outb(kCom1 + kIer, 0x00);  // DLM
  EXPECT_EQ(qts.inb(kCom1 + kThr), 0x01);
  EXPECT_EQ(qts.inb(kCom1 + kIer), 0x00);
  qts.outb(kCom1 + kLcr, 0x03);
  EXPECT_EQ(qts.inb(kCom1 + kLcr), 0x03);
  EXPECT_EQ(qts.inb(kCom2 + kScr), 0xff);  // one -serial, one port
  EXPECT_EQ(qts.unexpected_stderr(), "");
}

TEST(IsaSerialTest, loopback_and_fifo_identification) {
  QTestState qts("-serial null");
  qts.outb(kCom1 + kIir, 0x07);  // FIFO on, both cleared
  EXPECT_EQ(qts.inb(kCom1 + kIir) & 0xc0, 0xc0);
  qts.outb(kCom1 + kMcr, 0x10 | 0x0b);
  qts.outb(kCom1 + kThr, 'Q');
  qts.outb(kCom1 + kThr, 'R');
  EXPECT_EQ(qts.inb(kCom1 + kLsr) & 0x01, 0x01);
  EXPECT_EQ(qts.inb(kCom1 + kThr), 'Q');
  EXPECT_EQ(qts.inb(kCom1 + kThr), 'R');
  EXPECT_EQ(qts.inb(kCom1 + kLsr) & 0x01, 0x00);
  EXPECT_EQ(qts.inb(kCom1 + kMsr) & 0xf0, 0x10 | 0x20 | 0x80);  // CTS, DSR, DCD from RTS, DTR, OUT2
}

TEST(IsaSerialTest, output_reaches_a_file_chardev) {
  ScratchDir dir;
  std::string out = dir.file("com1.log");
  QTestState qts("-serial file:" + out + " -serial null");
  for (char c : std::string("hello, serial\n")) qts.outb(kCom1 + kThr, static_cast<uint8_t>(c));
  EXPECT_TRUE(eventually([&] { return read_text(out) == "hello, serial\n"; })) << read_text(out);
  qts.outb(kCom2 + kScr, 0x11);  // the second -serial is COM2
  EXPECT_EQ(qts.inb(kCom2 + kScr), 0x11);
}

TEST(IsaSerialTest, socket_input_raises_the_irq_and_reaches_rbr_and_output_reaches_the_socket) {
  ScratchDir dir;
  std::string path = dir.file("com1.sock");
  auto listener = unix_listen(path);
  ASSERT_TRUE(listener.ok());
  QTestState qts("-chardev socket,id=con,path=" + path + " -device isa-serial,chardev=con");
  pollfd pfd{listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&pfd, 1, 30000), 1);
  UniqueFd peer(::accept4(listener->get(), nullptr, nullptr, SOCK_CLOEXEC));
  ASSERT_TRUE(peer.valid());

  qts.irq_intercept_in("ioapic");
  qts.outb(kCom1 + kIer, 0x01);  // received-data interrupt
  EXPECT_FALSE(qts.get_irq(4));
  ASSERT_EQ(::write(peer.get(), "ping", 4), 4);
  ASSERT_TRUE(eventually([&] { return qts.get_irq(4); }));
  EXPECT_EQ(qts.inb(kCom1 + kIir), 0x04);
  std::string got;
  while (qts.inb(kCom1 + kLsr) & 0x01) got.push_back(static_cast<char>(qts.inb(kCom1 + kThr)));
  EXPECT_EQ(got, "ping");
  EXPECT_FALSE(qts.get_irq(4));

  for (char c : std::string("pong")) qts.outb(kCom1 + kThr, static_cast<uint8_t>(c));
  std::string echoed;
  while (echoed.size() < 4) {
    pollfd p{peer.get(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 30000), 1);
    char buf[16];
    ssize_t n = ::read(peer.get(), buf, sizeof buf);
    ASSERT_GT(n, 0);
    echoed.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(echoed, "pong");
}

TEST(IsaSerialTest, serial_unix_server_and_serial_chardev) {
  ScratchDir dir;
  std::string path = dir.file("com1.sock");
  QTestState qts("-serial unix:" + path + ",server=on,wait=off -chardev file,id=f,path=" + dir.file("com2.log") +
                 " -serial chardev:f");
  auto conn = unix_connect(path);
  ASSERT_TRUE(conn.ok());
  ASSERT_EQ(::write(conn->get(), "hi", 2), 2);
  ASSERT_TRUE(eventually([&] { return (qts.inb(kCom1 + kLsr) & 0x01) != 0; }));
  EXPECT_EQ(qts.inb(kCom1 + kThr), 'h');
  ASSERT_TRUE(eventually([&] { return (qts.inb(kCom1 + kLsr) & 0x01) != 0; }));
  EXPECT_EQ(qts.inb(kCom1 + kThr), 'i');
  qts.outb(kCom2 + kThr, '2');
  EXPECT_TRUE(eventually([&] { return read_text(dir.file("com2.log")) == "2"; }));
}

TEST(IsaSerialTest, thre_interrupt_on_a_device_with_its_own_port_and_irq) {
  QTestState qts("-device isa-serial,iobase=0x3e8,irq=5");
  qts.irq_intercept_in("ioapic");
  qts.outb(0x3e8 + kIer, 0x02);
  EXPECT_TRUE(qts.get_irq(5));
  EXPECT_EQ(qts.inb(0x3e8 + kIir), 0x02);  // reading IIR acknowledges THRE
  EXPECT_FALSE(qts.get_irq(5));
  qts.outb(0x3e8 + kThr, 'x');  // no chardev: the byte goes nowhere, THR empties
  EXPECT_TRUE(qts.get_irq(5));
  qts.outb(0x3e8 + kIer, 0x00);
  EXPECT_FALSE(qts.get_irq(5));
}

TEST(IsaSerialTest, serial_none_and_index_defaults) {
  QTestState qts("-serial none -serial null -device isa-serial");
  EXPECT_EQ(qts.inb(kCom1 + kLsr), 0x60);  // "none" takes no index: the null one is COM1
  EXPECT_EQ(qts.inb(kCom2 + kLsr), 0x60);  // the -device took the next free index
  EXPECT_EQ(qts.inb(0x3e8 + kLsr), 0xff);
}

TEST(IsaSerialTest, command_line_errors) {
  auto r = run_emulator("-accel qtest -serial foo");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err,
            "nahanni-system-x86_64: -serial foo: 'foo' is not a valid char driver\n"
            "nahanni-system-x86_64: -serial foo: could not connect serial device to character backend 'foo'\n");
  r = run_emulator("-accel qtest -device isa-serial,chardev=nope");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -device isa-serial,chardev=nope: "
                   "Property 'isa-serial.chardev' can't find value 'nope'\n");
  r = run_emulator("-accel qtest -chardev null,id=c -device isa-serial,chardev=c -device isa-serial,chardev=c");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -device isa-serial,chardev=c: "
                   "Property 'isa-serial.chardev' can't take value 'c', it's in use\n");
  r = run_emulator("-accel qtest -device isa-serial,index=4");
  EXPECT_EQ(r.status.code, 1);
  EXPECT_EQ(r.err, "nahanni-system-x86_64: -device isa-serial,index=4: Max. supported number of ISA serial ports is 4.\n");
}

}  // namespace
}  // namespace nahanni::qtest
