#include "contrib/ivshmem-protocol/message-queue.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "util/socket.h"

namespace nahanni::ivshmem {

bool MessageQueue::push(int64_t value, SharedFd fd) {
  if (size() >= limit_) return false;
  queue_.push_back(Outgoing{value, std::move(fd)});
  return true;
}

void MessageQueue::pop_front() {
  queue_[head_++].fd.reset();  // a descriptor sent to the last peer owed it closes now
  if (head_ == queue_.size()) {
    head_ = 0;
    if (queue_.capacity() > kKeepCapacity)
      std::vector<Outgoing>().swap(queue_);
    else
      queue_.clear();
  } else if (head_ > kKeepCapacity && head_ > queue_.size() / 2) {
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

MessageQueue::FlushResult MessageQueue::flush(int sock) {
  // Up to kBatch messages per system call (sendmmsg); each is still its own sendmsg with its
  // own 8 bytes and descriptor, so the receiver sees exactly what one-by-one sending gives.
  constexpr size_t kBatch = 64;
  struct Slot {
    std::array<std::byte, kMessageSize> bytes;
    iovec iov;
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  };
  std::array<Slot, kBatch> slots;
  std::array<mmsghdr, kBatch> headers;
  while (!empty()) {
    size_t n = std::min(kBatch, size());
    for (size_t i = 0; i < n; ++i) {
      const Outgoing& msg = queue_[head_ + i];
      Slot& slot = slots[i];
      slot.bytes = encode_message(msg.value);
      slot.iov = iovec{slot.bytes.data(), kMessageSize};
      msghdr& h = headers[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = &slot.iov;
      h.msg_iovlen = 1;
      headers[i].msg_len = 0;
      if (msg.fd && msg.fd->valid()) {
        h.msg_control = slot.control;
        h.msg_controllen = sizeof slot.control;
        cmsghdr* cmsg = CMSG_FIRSTHDR(&h);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int));
        int fd = msg.fd->get();
        std::memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
      }
    }
    int sent;
    do {
      sent = ::sendmmsg(sock, headers.data(), static_cast<unsigned>(n), MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? FlushResult::kBlocked : FlushResult::kError;
    for (int i = 0; i < sent; ++i) {
      // A unix stream socket takes 8 bytes whole or not at all; anything else would split
      // a message from its descriptor.
      if (headers[i].msg_len != kMessageSize) {
        errno = EPROTO;
        return FlushResult::kError;
      }
      bytes_sent_ += kMessageSize;
      ++messages_sent_;
      pop_front();
    }
    if (static_cast<size_t>(sent) < n) return FlushResult::kBlocked;  // the socket filled up
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
