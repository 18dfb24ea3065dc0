// The memory the server hands to every peer: an anonymous memfd (default), a POSIX shm
// object (-M), or an unlinked file in a directory such as a hugetlbfs mount (-m).
// A shm object this server created is unlinked when the SharedMemory dies, unless kept.
// The memfd is sealed against resizing (a peer cannot truncate it under the others); a file
// system object is fully allocated at creation, so a full tmpfs is an error, not a SIGBUS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "util/error.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

class SharedMemory {
 public:
  struct Spec {
    std::optional<std::string> shm_name;
    std::optional<std::string> dir;
    uint64_t size = 0;  // rounded up to a power of two, as QEMU's server does
    bool keep = false;  // leave a created shm object behind at exit
  };

  static Result<SharedMemory> create(const Spec& spec);

  SharedMemory(SharedMemory&& other) noexcept;
  SharedMemory& operator=(SharedMemory&&) = delete;
  SharedMemory(const SharedMemory&) = delete;
  ~SharedMemory();

  int fd() const { return fd_.get(); }
  UniqueFd release_fd() { return std::move(fd_); }
  uint64_t size() const { return size_; }
  // "memfd", "shm /name" or "file in DIR" for messages.
  const std::string& description() const { return description_; }

 private:
  SharedMemory() = default;

  UniqueFd fd_;
  uint64_t size_ = 0;
  std::string description_;
  std::string unlink_name_;  // shm object to unlink on destruction; empty if none
};

}  // namespace nahanni::ivshmem
