#include "contrib/ivshmem-protocol/message.h"

namespace nahanni::ivshmem {

std::array<std::byte, kMessageSize> encode_message(int64_t value) {
  std::array<std::byte, kMessageSize> out{};
  auto bits = static_cast<uint64_t>(value);
  for (size_t i = 0; i < kMessageSize; ++i) out[i] = static_cast<std::byte>(bits >> (8 * i));
  return out;
}

int64_t decode_message(std::span<const std::byte, kMessageSize> bytes) {
  uint64_t bits = 0;
  for (size_t i = 0; i < kMessageSize; ++i) bits |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return static_cast<int64_t>(bits);
}

}  // namespace nahanni::ivshmem
