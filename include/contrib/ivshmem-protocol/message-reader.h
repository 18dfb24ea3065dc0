// Incremental framing for the receiving side (a peer, or the doorbell device behind a
// chardev): bytes arrive in arbitrary chunks, descriptors with them; out come whole messages.
//
// Which message owns a descriptor: the kernel hands out the descriptors of a stream socket
// with the recvmsg that reaches the end of the data they were sent with, and stops reading
// there. So the descriptors delivered with a chunk belong to the message holding the
// chunk's last byte. Call feed() once per recvmsg result to keep that true.
//
// Errors (the reader is then failed for good; the caller should drop the connection):
//   - a message ends up with more than one descriptor;
//   - descriptors arrive with no bytes;
//   - feed() after a failure.
// Every descriptor handed in is owned by the reader from then on: closed on error, or passed
// out inside a Message. Nothing leaks whatever the input.
#pragma once

#include <cstddef>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "contrib/ivshmem-protocol/message.h"
#include "util/error.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

class MessageReader {
 public:
  // Takes the bytes of one read and the descriptors that arrived with it.
  Status feed(std::span<const std::byte> data, std::vector<UniqueFd> fds = {});
  // The next complete message, in order, or nullopt if none is complete yet.
  std::optional<Message> next();

  size_t pending_messages() const { return ready_.size(); }
  // Bytes of an incomplete message held back (0..7).
  size_t partial_bytes() const { return partial_len_; }
  bool failed() const { return failed_; }

 private:
  Status fail(Error error);

  std::deque<Message> ready_;
  std::byte partial_[kMessageSize]{};
  size_t partial_len_ = 0;
  UniqueFd partial_fd_;  // descriptor already owed to the incomplete message
  bool failed_ = false;
};

}  // namespace nahanni::ivshmem
