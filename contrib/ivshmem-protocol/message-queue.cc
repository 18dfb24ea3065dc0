#include "contrib/ivshmem-protocol/message-queue.h"

#include <cerrno>

#include "util/socket.h"

namespace nahanni::ivshmem {

bool MessageQueue::push(int64_t value, SharedFd fd) {
  if (queue_.size() >= limit_) return false;
  queue_.push_back(Outgoing{value, std::move(fd)});
  return true;
}

MessageQueue::FlushResult MessageQueue::flush(int sock) {
  while (!queue_.empty()) {
    const Outgoing& msg = queue_.front();
    auto bytes = encode_message(msg.value);
    int fd = msg.fd ? msg.fd->get() : -1;
    std::span<const int> fds = fd >= 0 ? std::span<const int>(&fd, 1) : std::span<const int>();
    ssize_t n = send_with_fds(sock, bytes, fds);
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? FlushResult::kBlocked : FlushResult::kError;
    // A stream socket that took fewer than 8 bytes of a message with an fd would split it;
    // unix sockets take a message whole or not at all, so treat anything else as a failure.
    if (static_cast<size_t>(n) != kMessageSize) {
      errno = EPROTO;
      return FlushResult::kError;
    }
    bytes_sent_ += kMessageSize;
    ++messages_sent_;
    queue_.pop_front();
  }
  return FlushResult::kEmpty;
}

size_t greeting_length(std::span<const PeerVectors> others, size_t own_vectors) {
  size_t n = 3 + own_vectors;
  for (const auto& peer : others) n += peer.vectors.size();
  return n;
}

bool push_greeting(MessageQueue& queue, const SharedFd& shared_memory, std::span<const PeerVectors> others,
                   const PeerVectors& self) {
  if (queue.limit() - queue.size() < greeting_length(others, self.vectors.size())) return false;
  bool ok = queue.push(kProtocolVersion) && queue.push(self.id) && queue.push(kSharedMemoryMessage, shared_memory);
  for (const auto& peer : others)
    for (const auto& fd : peer.vectors) ok = ok && queue.push(peer.id, fd);
  for (const auto& fd : self.vectors) ok = ok && queue.push(self.id, fd);
  return ok;
}

}  // namespace nahanni::ivshmem
