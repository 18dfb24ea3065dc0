// Who is connected: peer ids (the protocol's 16-bit range, handed out by a rotating counter
// that skips ids in use, as QEMU's server does) and what each peer owns.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>

#include "contrib/ivshmem-protocol/message-queue.h"
#include "util/event-loop.h"
#include "util/fd.h"
#include "util/socket.h"

namespace nahanni::ivshmem {

struct Peer {
  uint16_t id = 0;
  UniqueFd sock;
  PeerCredentials credentials;
  std::vector<SharedFd> vectors;  // eventfds: ring this peer on vector i
  MessageQueue outbox{0};
  EventLoop::Handle watch;
  bool writable_watched = false;
};

class PeerTable {
 public:
  // A free id, or nullopt when all 65536 are taken. The id stays free until add().
  std::optional<uint16_t> allocate_id() const;
  Peer& add(Peer peer);
  // The peer leaves the table; its id is free again once the caller lets it go.
  std::optional<Peer> remove(uint16_t id);

  Peer* find(uint16_t id);
  size_t size() const { return peers_.size(); }
  auto begin() { return peers_.begin(); }
  auto end() { return peers_.end(); }

 private:
  std::map<uint16_t, Peer> peers_;  // ordered: greetings list peers by id
  mutable uint16_t next_id_ = 0;
};

}  // namespace nahanni::ivshmem
