// The 16550A register model: reset values, divisor latch, FIFO control, loopback, received
// bytes, and the interrupt identification and line that follow them.
#include <gtest/gtest.h>

#include <string>

#include "hw/char/serial.h"

namespace nahanni::test {
namespace {

using namespace uart;

class SerialTest : public ::testing::Test {
 protected:
  std::string sent;
  std::vector<int> irq_changes;
  Serial16550 uart{Serial16550::Hooks{.transmit = [this](uint8_t b) { sent.push_back(static_cast<char>(b)); },
                                      .set_irq = [this](int l) { irq_changes.push_back(l); }}};
  void feed(std::string_view s) { uart.receive(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size())); }
};

TEST_F(SerialTest, reset_state) {
  EXPECT_EQ(uart.read(kIerDlm), 0);
  EXPECT_EQ(uart.read(kIirFcr), kIirNoInt);
  EXPECT_EQ(uart.read(kLcr), 0);
  EXPECT_EQ(uart.read(kMcr), kMcrOut2);
  EXPECT_EQ(uart.read(kLsr), kLsrThre | kLsrTemt);
  EXPECT_EQ(uart.read(kMsr), kMsrCts | kMsrDsr | kMsrDcd);
  EXPECT_EQ(uart.irq_level(), 0);
}

TEST_F(SerialTest, divisor_latch_shadows_rbr_and_ier) {
  uart.write(kIerDlm, 0x05);
  uart.write(kLcr, kLcrDlab | 0x03);
  uart.write(kRbrThrDll, 0x01);
  uart.write(kIerDlm, 0x02);
  EXPECT_EQ(uart.read(kRbrThrDll), 0x01);
  EXPECT_EQ(uart.read(kIerDlm), 0x02);
  EXPECT_EQ(uart.divisor(), 0x0201);
  EXPECT_TRUE(sent.empty());
  uart.write(kLcr, 0x03);
  EXPECT_EQ(uart.read(kIerDlm), 0x05);
  EXPECT_EQ(uart.read(kLcr), 0x03);
}

TEST_F(SerialTest, transmit_and_scratch) {
  uart.write(kRbrThrDll, 'h');
  uart.write(kRbrThrDll, 'i');
  EXPECT_EQ(sent, "hi");
  uart.write(kScr, 0x5a);
  EXPECT_EQ(uart.read(kScr), 0x5a);
}

TEST_F(SerialTest, thre_interrupt_on_enable_acknowledged_by_iir_read_and_raised_by_thr_write) {
  uart.write(kIerDlm, kIerThre);
  EXPECT_EQ(uart.irq_level(), 1);
  EXPECT_EQ(uart.read(kIirFcr), kIirThre);
  EXPECT_EQ(uart.irq_level(), 0);
  EXPECT_EQ(uart.read(kIirFcr), kIirNoInt);
  uart.write(kRbrThrDll, 'x');
  EXPECT_EQ(uart.irq_level(), 1);
  uart.write(kIerDlm, 0);
  EXPECT_EQ(uart.irq_level(), 0);
  EXPECT_EQ(irq_changes, (std::vector<int>{0, 1, 0, 1, 0}));
}

TEST_F(SerialTest, loopback_returns_bytes_and_modem_lines) {
  uart.write(kMcr, kMcrLoop);
  (void)uart.read(kMsr);
  uart.write(kRbrThrDll, 0xa5);
  EXPECT_TRUE(sent.empty());
  EXPECT_EQ(uart.read(kLsr) & kLsrDr, kLsrDr);
  EXPECT_EQ(uart.read(kRbrThrDll), 0xa5);
  EXPECT_EQ(uart.read(kLsr) & kLsrDr, 0);
  uart.write(kMcr, kMcrLoop | kMcrRts | kMcrDtr | kMcrOut1 | kMcrOut2);
  uint8_t msr = uart.read(kMsr);
  EXPECT_EQ(msr & 0xf0, kMsrCts | kMsrDsr | kMsrRi | kMsrDcd);
  EXPECT_EQ(msr & (kMsrDcts | kMsrDdsr), kMsrDcts | kMsrDdsr);
  EXPECT_EQ(uart.read(kMsr) & 0x0f, 0);  // deltas clear on read
  uart.write(kMcr, kMcrLoop | kMcrRts | kMcrDtr | kMcrOut2);
  EXPECT_EQ(uart.read(kMsr) & kMsrTeri, kMsrTeri);  // RI trailing edge
}

TEST_F(SerialTest, one_byte_holding_register_without_fifo_overruns) {
  uart.write(kMcr, kMcrLoop);
  uart.write(kRbrThrDll, '1');
  uart.write(kRbrThrDll, '2');
  EXPECT_EQ(uart.read(kLsr) & (kLsrDr | kLsrOe), kLsrDr | kLsrOe);
  EXPECT_EQ(uart.read(kLsr) & kLsrOe, 0);
  EXPECT_EQ(uart.read(kRbrThrDll), '1');
}

TEST_F(SerialTest, received_bytes_wait_in_the_backlog_and_raise_rda) {
  uart.write(kIerDlm, kIerRda);
  feed("abc");
  EXPECT_EQ(uart.irq_level(), 1);
  EXPECT_EQ(uart.read(kIirFcr), kIirRda);
  std::string got;
  while (uart.read(kLsr) & kLsrDr) got.push_back(static_cast<char>(uart.read(kRbrThrDll)));
  EXPECT_EQ(got, "abc");
  EXPECT_EQ(uart.irq_level(), 0);
  EXPECT_EQ(uart.read(kIirFcr), kIirNoInt);
}

TEST_F(SerialTest, fifo_mode_trigger_level_and_timeout_indication) {
  uart.write(kIirFcr, kFcrEnable | 0x80);  // trigger level 8
  uart.write(kIerDlm, kIerRda);
  feed("12345");
  EXPECT_EQ(uart.read(kIirFcr), kIirFifoEnabled | kIirTimeout);
  feed("6789abcdefghijklmnop");
  EXPECT_EQ(uart.read(kIirFcr), kIirFifoEnabled | kIirRda);
  EXPECT_EQ(uart.pending_input(), 25u);
  uart.write(kIirFcr, kFcrEnable | kFcrClearRx | 0x80);  // drops the 16 in the FIFO
  EXPECT_EQ(uart.read(kRbrThrDll), 'h');
  uart.write(kIirFcr, 0);
  EXPECT_EQ(uart.read(kIirFcr) & kIirFifoEnabled, 0);
}

TEST_F(SerialTest, line_status_interrupt_has_priority) {
  uart.write(kIerDlm, kIerRda | kIerLsi | kIerThre);
  uart.write(kMcr, kMcrLoop);
  uart.write(kRbrThrDll, '1');
  uart.write(kRbrThrDll, '2');  // overrun
  EXPECT_EQ(uart.read(kIirFcr), kIirLsi);
  (void)uart.read(kLsr);
  EXPECT_EQ(uart.read(kIirFcr), kIirRda);
  (void)uart.read(kRbrThrDll);
  EXPECT_EQ(uart.read(kIirFcr), kIirThre);
}

TEST_F(SerialTest, reset_clears_everything) {
  uart.write(kIerDlm, kIerRda);
  feed("zz");
  uart.write(kScr, 1);
  uart.reset();
  EXPECT_EQ(uart.pending_input(), 0u);
  EXPECT_EQ(uart.irq_level(), 0);
  EXPECT_EQ(uart.read(kScr), 0);
  EXPECT_EQ(uart.divisor(), 12);
}

}  // namespace
}  // namespace nahanni::test
