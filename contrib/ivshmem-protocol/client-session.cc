#include "contrib/ivshmem-protocol/client-session.h"

namespace nahanni::ivshmem {

Error ClientSession::fail(Error error) {
  state_ = State::kFailed;
  return error;
}

unsigned ClientSession::vectors_of(uint16_t peer) const {
  auto it = vectors_.find(peer);
  return it == vectors_.end() ? 0 : it->second;
}

Result<Event> ClientSession::handle(Message message) {
  // `message` (and its fd) dies here unless moved into the Event.
  switch (state_) {
    case State::kFailed:
      return Error("connection to server already failed");
    case State::kAwaitVersion:
      if (message.value != kProtocolVersion)
        return fail(Error::format("server sent version {}, expecting {}", message.value, kProtocolVersion));
      if (message.fd) return fail(Error("server sent invalid version message"));
      state_ = State::kAwaitId;
      return Event{.kind = Event::Kind::kVersion};
    case State::kAwaitId:
      if (message.fd || message.value < 0 || message.value > kMaxPeerId)
        return fail(Error("server sent invalid ID message"));
      own_id_ = static_cast<uint16_t>(message.value);
      state_ = State::kAwaitSharedMem;
      return Event{.kind = Event::Kind::kOwnId, .peer = own_id_};
    case State::kAwaitSharedMem:
      if (message.value != kSharedMemoryMessage) {
        if (message.value < kSharedMemoryMessage || message.value > kMaxPeerId)
          return fail(Error::format("server sent invalid message {}", message.value));
        return fail(Error::format("server sent message {} before the shared memory", message.value));
      }
      if (!message.fd) return fail(Error("server didn't provide fd with shared memory message"));
      state_ = State::kReady;
      return Event{.kind = Event::Kind::kSharedMemory, .fd = std::move(message.fd)};
    case State::kReady:
      return handle_ready(std::move(message));
  }
  return Error("unreachable session state");
}

Result<Event> ClientSession::handle_ready(Message message) {
  if (message.value == kSharedMemoryMessage) return Error("server sent unexpected shared memory message");
  if (message.value < kSharedMemoryMessage || message.value > kMaxPeerId)
    return Error::format("server sent invalid message {}", message.value);
  auto peer = static_cast<uint16_t>(message.value);
  if (!message.fd) {
    if (peer == own_id_ || vectors_.find(peer) == vectors_.end()) return Error::format("invalid peer {}", peer);
    vectors_.erase(peer);
    return Event{.kind = Event::Kind::kPeerGone, .peer = peer};
  }
  unsigned vector = vectors_[peer]++;
  return Event{.kind = peer == own_id_ ? Event::Kind::kOwnVector : Event::Kind::kPeerVector,
               .peer = peer,
               .vector = vector,
               .fd = std::move(message.fd)};
}

}  // namespace nahanni::ivshmem
