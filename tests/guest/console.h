// Line output over the 8250 UART at 0x3f8, polled: the guest's only report channel besides its
// exit status. Also the few formatting helpers a freestanding program needs.
#pragma once

#include <cstdint>
#include <type_traits>

namespace nahanni::guest {

void console_init();
void put(const char* s);
void put_char(char c);
void put_dec(uint64_t v);
void put_hex(uint64_t v);  // 0x-prefixed
void put_hex_digits(uint64_t v);

// One print argument, typed at the call site so no varargs width can go wrong.
struct PrintArg {
  PrintArg(const char* s) : str(s) {}
  template <typename T>
    requires std::is_integral_v<T>
  PrintArg(T v) : num(static_cast<uint64_t>(v)) {}
  const char* str = nullptr;
  uint64_t num = 0;
};

void print_args(const char* fmt, const PrintArg* args, int count);

// Minimal printf: %s, %d (unsigned decimal), %x (0x-prefixed hex), %X (bare hex), %%; "\n" becomes CR LF.
template <typename... Args>
void print(const char* fmt, Args... args) {
  const PrintArg array[] = {PrintArg(args)..., PrintArg(0)};
  print_args(fmt, array, sizeof...(Args));
}

}  // namespace nahanni::guest
