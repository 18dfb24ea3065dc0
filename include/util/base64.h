// Base64 (RFC 4648, with padding), for the qtest protocol's b64read/b64write.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nahanni {

std::string base64_encode(std::span<const uint8_t> data);
// nullopt on characters outside the alphabet or bad padding.
std::optional<std::vector<uint8_t>> base64_decode(std::string_view text);

}  // namespace nahanni
