// A reproducible byte pattern for checking shared memory end to end: the same seed gives the
// same bytes in a guest and on the host, and each position depends on its offset so that a
// shifted or partial copy does not pass.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace nahanni::guest {

void fill_pattern(volatile uint8_t* data, size_t length, uint64_t seed, uint64_t start_offset = 0);
// The offset (relative to data) of the first byte that differs, or nullopt when all match.
std::optional<size_t> check_pattern(const volatile uint8_t* data, size_t length, uint64_t seed,
                                    uint64_t start_offset = 0);
uint8_t pattern_byte(uint64_t seed, uint64_t offset);

}  // namespace nahanni::guest
