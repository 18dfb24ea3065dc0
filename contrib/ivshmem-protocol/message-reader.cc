#include "contrib/ivshmem-protocol/message-reader.h"

#include <cstring>

namespace nahanni::ivshmem {

Status MessageReader::fail(Error error) {
  failed_ = true;
  ready_.clear();
  partial_fd_.reset();
  partial_len_ = 0;
  return error;
}

Status MessageReader::feed(std::span<const std::byte> data, std::vector<UniqueFd> fds) {
  if (failed_) return Error("connection to server already failed");
  if (data.empty()) {
    if (!fds.empty()) return fail(Error("server sent file descriptors without a message"));
    return {};
  }
  if (fds.size() > 1) return fail(Error::format("server sent {} file descriptors with one message", fds.size()));

  // The descriptor belongs to the message holding the chunk's last byte.
  size_t owner_end = partial_len_ + data.size();  // offset past the last byte, from the partial start
  size_t owner_index = (owner_end - 1) / kMessageSize;  // which message of this chunk (0 = the partial one)

  size_t index = 0;
  while (!data.empty()) {
    size_t take = std::min(kMessageSize - partial_len_, data.size());
    std::memcpy(partial_ + partial_len_, data.data(), take);
    partial_len_ += take;
    data = data.subspan(take);
    if (index == owner_index && !fds.empty()) {
      if (partial_fd_) return fail(Error("server sent more than one file descriptor with one message"));
      partial_fd_ = std::move(fds.front());
      fds.clear();
    }
    if (partial_len_ == kMessageSize) {
      ready_.push_back(Message{decode_message(std::span<const std::byte, kMessageSize>(partial_)),
                               std::move(partial_fd_)});
      partial_fd_.reset();
      partial_len_ = 0;
    }
    ++index;
  }
  return {};
}

std::optional<Message> MessageReader::next() {
  if (ready_.empty()) return std::nullopt;
  Message m = std::move(ready_.front());
  ready_.pop_front();
  return m;
}

}  // namespace nahanni::ivshmem
