// Sizes with QEMU's spelling: decimal with an optional B/K/M/G/T/P/E suffix (powers of 1024,
// either case; a fraction allowed with a suffix), or 0x-prefixed hex without a suffix.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nahanni {

// `default_unit` multiplies a number without suffix (1 for bytes; 1 MiB for -m).
std::optional<uint64_t> parse_size(std::string_view text, uint64_t default_unit = 1);

// "4 MiB", "1.5 GiB", "300 B": for messages.
std::string format_size(uint64_t bytes);

inline bool is_power_of_2(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }

}  // namespace nahanni
