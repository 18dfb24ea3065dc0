// The ivshmem server protocol's unit: one little-endian int64, optionally with one descriptor
// passed by SCM_RIGHTS. The server talks, peers listen (docs/specs/ivshmem-spec.rst):
//   version 0; own id; -1 + shared memory fd; per other peer its id N times with one eventfd
//   each (vectors 0..N-1 in order); own id N times with one eventfd each. Later on, a peer id
//   with an fd is that peer's next vector; a peer id without an fd means the peer left.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "util/fd.h"

namespace nahanni::ivshmem {

inline constexpr int64_t kProtocolVersion = 0;
inline constexpr int64_t kSharedMemoryMessage = -1;
inline constexpr int64_t kMaxPeerId = 65535;  // ids are 16-bit: the Doorbell register's high half
inline constexpr size_t kMessageSize = 8;

// A received message: the value and the descriptor that came with it (invalid if none).
struct Message {
  int64_t value = 0;
  UniqueFd fd;
};

std::array<std::byte, kMessageSize> encode_message(int64_t value);
// `bytes` must hold exactly kMessageSize bytes.
int64_t decode_message(std::span<const std::byte, kMessageSize> bytes);

}  // namespace nahanni::ivshmem
