#include "test-pattern.h"

namespace nahanni::guest {

uint8_t pattern_byte(uint64_t seed, uint64_t offset) {
  // splitmix64 of (seed, 8-byte block), one byte of it per position.
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + (offset / 8) + 1;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return static_cast<uint8_t>(z >> (8 * (offset % 8)));
}

void fill_pattern(volatile uint8_t* data, size_t length, uint64_t seed, uint64_t start_offset) {
  for (size_t i = 0; i < length; ++i) data[i] = pattern_byte(seed, start_offset + i);
}

std::optional<size_t> check_pattern(const volatile uint8_t* data, size_t length, uint64_t seed,
                                    uint64_t start_offset) {
  for (size_t i = 0; i < length; ++i) {
    if (data[i] != pattern_byte(seed, start_offset + i)) return i;
  }
  return std::nullopt;
}

}  // namespace nahanni::guest
