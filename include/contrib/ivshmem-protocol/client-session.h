// The receiving side's view of the protocol: a state machine fed whole messages (from a
// MessageReader) that turns each into one Event or an Error with QEMU's wording.
//
//   kAwaitVersion   -> version 0, no fd               ("server sent version N, expecting 0")
//   kAwaitId        -> own id 0..65535, no fd         ("server sent invalid ID message")
//   kAwaitSharedMem -> -1 with the shared memory fd
//   kReady          -> peer id + fd: that peer's next vector (kPeerVector)
//                      own id + fd: our own next vector   (kOwnVector)
//                      peer id, no fd: the peer left      (kPeerGone)
// A setup error (before kReady) fails the session for good: the connection is useless.
// After kReady an error concerns one message only (its fd is closed) and the session goes on;
// QEMU only reports those too. The session never keeps a descriptor: each comes out in its
// Event, or is closed with the rejected message.
#pragma once

#include <cstdint>
#include <map>

#include "contrib/ivshmem-protocol/message.h"
#include "util/error.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

struct Event {
  enum class Kind {
    kVersion,       // the server speaks version 0
    kOwnId,         // `peer` is our id
    kSharedMemory,  // `fd` is the shared memory
    kPeerVector,    // `fd` rings peer `peer` on vector `vector`
    kOwnVector,     // `fd` signals our own vector `vector` (peer == own id)
    kPeerGone,      // peer `peer` disconnected; forget its eventfds
  };
  Kind kind = Kind::kVersion;
  uint16_t peer = 0;
  unsigned vector = 0;
  UniqueFd fd;
};

class ClientSession {
 public:
  enum class State { kAwaitVersion, kAwaitId, kAwaitSharedMem, kReady, kFailed };

  Result<Event> handle(Message message);

  State state() const { return state_; }
  bool ready() const { return state_ == State::kReady; }
  // Valid from kOwnId on.
  uint16_t own_id() const { return own_id_; }
  // Vectors received so far for `peer` (own id included); 0 if unknown.
  unsigned vectors_of(uint16_t peer) const;
  const std::map<uint16_t, unsigned>& peers() const { return vectors_; }

 private:
  Error fail(Error error);
  Result<Event> handle_ready(Message message);

  State state_ = State::kAwaitVersion;
  uint16_t own_id_ = 0;
  std::map<uint16_t, unsigned> vectors_;  // peer id -> eventfds received
};

}  // namespace nahanni::ivshmem
