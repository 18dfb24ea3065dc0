// Doorbell round trips between two guests (or a guest and a peer that echoes rings).
//
// Mailbox protocol, in shared memory at a chosen offset (32-bit little-endian words):
//   +0  ponger id + 1   written by pong once it can receive (0: not yet)
//   +4  pinger id + 1   written by ping before its first ring
//   +8  ping sequence   written by ping, then ping rings the ponger
//   +12 pong sequence   pong copies the ping sequence here, then rings the pinger back
//   +64 payload         ping fills it with pattern(seq), pong checks it and fills
//                       pattern(~seq), ping checks that: data travels both ways each round
// Both sides wait for each other's id, so two guests may start in any order.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "interrupt-backend.h"

namespace nahanni::guest {

struct PingOptions {
  uint64_t mailbox_offset = 0;
  size_t payload = 256;
  unsigned count = 10;
  uint16_t vector = 0;
  std::optional<uint16_t> peer;  // ping: the ponger's id; unset: read it from the mailbox
  bool echo_only = false;         // ping a peer that only rings back (no mailbox)
  std::chrono::milliseconds patience{60000};
};

struct PingStats {
  unsigned rounds = 0;
  std::chrono::nanoseconds min{}, max{}, total{};
};

Result<PingStats> run_ping(IvshmemDevice& dev, InterruptBackend& backend, const PingOptions& opts);
// Answers opts.count pings; returns the number answered.
Result<unsigned> run_pong(IvshmemDevice& dev, InterruptBackend& backend, const PingOptions& opts);

}  // namespace nahanni::guest
