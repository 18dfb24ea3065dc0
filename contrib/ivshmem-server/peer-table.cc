#include "peer-table.h"

namespace nahanni::ivshmem {

std::optional<uint16_t> PeerTable::allocate_id() const {
  if (peers_.size() > 0xffff) return std::nullopt;
  // Rotating, so a departed peer's id is not handed out again at once.
  for (uint32_t tries = 0; tries <= 0xffff; ++tries) {
    uint16_t id = next_id_++;
    if (peers_.find(id) == peers_.end()) return id;
  }
  return std::nullopt;
}

Peer& PeerTable::add(Peer peer) {
  uint16_t id = peer.id;
  return peers_.insert_or_assign(id, std::move(peer)).first->second;
}

std::optional<Peer> PeerTable::remove(uint16_t id) {
  auto it = peers_.find(id);
  if (it == peers_.end()) return std::nullopt;
  Peer peer = std::move(it->second);
  peers_.erase(it);
  return peer;
}

Peer* PeerTable::find(uint16_t id) {
  auto it = peers_.find(id);
  return it == peers_.end() ? nullptr : &it->second;
}

}  // namespace nahanni::ivshmem
