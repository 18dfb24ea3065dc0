// The sending side: a bounded per-peer outbox flushed without ever blocking.
//
// The server never waits on a peer: messages go into the peer's queue, flush() sends what
// the socket takes (one sendmsg per message, so each descriptor travels with its own 8
// bytes) and stops at EAGAIN; the caller flushes again when the socket is writable. When a
// push would take the queue past its bound the push fails: the peer stopped reading and the
// caller drops it instead of losing messages silently.
//
// Descriptors are shared, not duplicated: one eventfd queued for 1,000 peers is one open
// file, kept alive until the last queue holding it has sent it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "contrib/ivshmem-protocol/message.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

using SharedFd = std::shared_ptr<const UniqueFd>;

inline SharedFd make_shared_fd(UniqueFd fd) { return std::make_shared<const UniqueFd>(std::move(fd)); }

class MessageQueue {
 public:
  enum class FlushResult {
    kEmpty,    // everything sent
    kBlocked,  // the socket is full: flush again once it is writable
    kError,    // the peer is gone or refused the message (errno set)
  };

  explicit MessageQueue(size_t limit) : limit_(limit) {}

  // Queues one message; false (and nothing queued) if that would exceed the bound.
  [[nodiscard]] bool push(int64_t value, SharedFd fd = nullptr);
  // Grows the bound, e.g. by the length of a greeting that must fit whole.
  void raise_limit(size_t extra) { limit_ += extra; }

  FlushResult flush(int sock);

  bool empty() const { return head_ == queue_.size(); }
  size_t size() const { return queue_.size() - head_; }
  size_t limit() const { return limit_; }
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t messages_sent() const { return messages_sent_; }

 private:
  struct Outgoing {
    int64_t value;
    SharedFd fd;
  };
  // A vector consumed from `head_`: an idle peer's queue costs nothing, and one message at a
  // time reuses the same slot, where a deque costs a 512-byte block per peer and allocates
  // a new block every 21 messages. A drained queue keeps at most this much room, so a long
  // greeting's room is given back; sent messages are cut off the front once they are the
  // larger part.
  static constexpr size_t kKeepCapacity = 16;
  void pop_front();
  std::vector<Outgoing> queue_;
  size_t head_ = 0;  // queue_[0, head_) are sent
  size_t limit_;
  uint64_t bytes_sent_ = 0;
  uint64_t messages_sent_ = 0;
};

// What a newcomer is owed on connect, in protocol order: version, own id, -1 + shared
// memory, every other peer's eventfds (vectors in order), its own eventfds last.
struct PeerVectors {
  uint16_t id = 0;
  std::span<const SharedFd> vectors;
};
// Length of the greeting, to size a queue's bound before pushing it.
size_t greeting_length(std::span<const PeerVectors> others, size_t own_vectors);
// Pushes the whole greeting; false if the queue's bound is too small for it.
[[nodiscard]] bool push_greeting(MessageQueue& queue, const SharedFd& shared_memory,
                                 std::span<const PeerVectors> others, const PeerVectors& self);

}  // namespace nahanni::ivshmem
