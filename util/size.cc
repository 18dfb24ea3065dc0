#include "util/size.h"

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>

namespace nahanni {
namespace {

int suffix_shift(char c) {
  switch (std::tolower(static_cast<unsigned char>(c))) {
    case 'b': return 0;
    case 'k': return 10;
    case 'm': return 20;
    case 'g': return 30;
    case 't': return 40;
    case 'p': return 50;
    case 'e': return 60;
    default: return -1;
  }
}

}  // namespace

std::optional<uint64_t> parse_size(std::string_view text, uint64_t default_unit) {
  // Leading blanks and a '+' are accepted, as strtoull (and so QEMU) reads numbers; '-' never.
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text[0]))) text.remove_prefix(1);
  if (!text.empty() && text[0] == '+') text.remove_prefix(1);
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return std::nullopt;

  if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    std::string digits(text.substr(2));
    for (char c : digits)
      if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;  // no suffix on hex
    errno = 0;
    uint64_t value = std::strtoull(digits.c_str(), nullptr, 16);
    if (errno == ERANGE) return std::nullopt;
    return value;
  }

  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  std::string_view whole = text.substr(0, i);
  std::string_view fraction;
  if (i < text.size() && text[i] == '.') {
    size_t start = ++i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    fraction = text.substr(start, i - start);  // may be empty: "1." and "1.M" are whole numbers
  }
  std::string_view rest = text.substr(i);

  uint64_t unit = default_unit;
  int shift = 0;
  if (!rest.empty()) {
    if (rest.size() != 1) return std::nullopt;
    shift = suffix_shift(rest[0]);
    if (shift < 0) return std::nullopt;
    unit = uint64_t{1} << shift;
  }
  // A fraction needs a multiplier suffix ("1.5M"); "1.5", "1.5B" are rejected, "1.0" is 1.
  if (fraction.find_first_not_of('0') == std::string_view::npos) fraction = {};
  if (!fraction.empty() && shift == 0) return std::nullopt;

  // Whole part, with overflow checks.
  uint64_t value = 0;
  for (char c : whole) {
    uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (std::numeric_limits<uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (unit != 0 && value > std::numeric_limits<uint64_t>::max() / unit) return std::nullopt;
  uint64_t bytes = value * unit;
  if (!fraction.empty()) {
    // Truncate the fractional part to whole bytes; long double keeps 64 bits of mantissa.
    long double frac = std::strtold(("0." + std::string(fraction)).c_str(), nullptr);
    long double extra = std::floor(frac * static_cast<long double>(unit));
    if (static_cast<long double>(bytes) + extra >= 18446744073709551616.0L) return std::nullopt;
    bytes += static_cast<uint64_t>(extra);
  }
  return bytes;
}

std::string format_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  double value = static_cast<double>(bytes);
  while (value >= 1024 && unit < 6) {
    value /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  if (value == std::floor(value)) return fmt::format("{:.0f} {}", value, kUnits[unit]);
  return fmt::format("{:.3g} {}", value, kUnits[unit]);
}

}  // namespace nahanni
