// The server's listening socket: inherited from systemd (LISTEN_FDS/LISTEN_PID) or bound at
// the -S path. A socket file we bound is removed at exit, but only if it is still ours.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "util/error.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

class Listener {
 public:
  // `mode`: permissions of a socket we bind (nullopt: as the umask says).
  static Result<Listener> open(const std::string& path, std::optional<unsigned> mode);

  Listener(Listener&& other) noexcept;
  Listener& operator=(Listener&&) = delete;
  ~Listener();

  UniqueFd take_fd() { return std::move(fd_); }
  bool socket_activated() const { return activated_; }

 private:
  Listener() = default;

  UniqueFd fd_;
  bool activated_ = false;
  std::string owned_path_;  // the socket file to remove, if we bound it
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace nahanni::ivshmem
