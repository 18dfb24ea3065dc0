#include "console.h"

#include "io.h"

namespace nahanni::guest {
namespace {

constexpr uint16_t kCom1 = 0x3f8;
constexpr uint16_t kData = 0, kInterruptEnable = 1, kFifoControl = 2, kLineControl = 3,
                   kModemControl = 4, kLineStatus = 5;
constexpr uint8_t kTransmitterEmpty = 0x20;

}  // namespace

void console_init() {
  outb(kCom1 + kInterruptEnable, 0);
  outb(kCom1 + kLineControl, 0x80);  // DLAB: divisor follows
  outb(kCom1 + kData, 1);            // 115200 baud
  outb(kCom1 + kInterruptEnable, 0);
  outb(kCom1 + kLineControl, 0x03);  // 8N1
  outb(kCom1 + kFifoControl, 0x07);
  outb(kCom1 + kModemControl, 0x03);
}

void put_char(char c) {
  // Bounded: a missing UART must not hang the guest before it can report through its exit.
  for (int i = 0; i < 100000 && !(inb(kCom1 + kLineStatus) & kTransmitterEmpty); ++i) cpu_relax();
  outb(kCom1 + kData, static_cast<uint8_t>(c));
}

void put(const char* s) {
  while (*s) {
    if (*s == '\n') put_char('\r');
    put_char(*s++);
  }
}

void put_dec(uint64_t v) {
  char buf[24];
  int n = 0;
  do {
    buf[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) put_char(buf[--n]);
}

void put_hex(uint64_t v) {
  put("0x");
  put_hex_digits(v);
}

void put_hex_digits(uint64_t v) {
  bool started = false;
  for (int shift = 60; shift >= 0; shift -= 4) {
    unsigned digit = (v >> shift) & 0xf;
    if (!digit && !started && shift) continue;
    started = true;
    put_char("0123456789abcdef"[digit]);
  }
}

void print_args(const char* fmt, const PrintArg* args, int count) {
  int next = 0;
  for (; *fmt; ++fmt) {
    if (*fmt != '%') {
      if (*fmt == '\n') put_char('\r');
      put_char(*fmt);
      continue;
    }
    char conv = *++fmt;
    if (conv == '\0') break;
    if (conv == '%') {
      put_char('%');
      continue;
    }
    if (next >= count) {
      put("<missing>");
      continue;
    }
    const PrintArg& a = args[next++];
    if (conv == 's')
      put(a.str ? a.str : "<null>");
    else if (conv == 'x')
      put_hex(a.num);
    else if (conv == 'X')
      put_hex_digits(a.num);
    else
      put_dec(a.num);
  }
}

}  // namespace nahanni::guest
