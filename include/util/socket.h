// Sockets as values: unix and TCP stream sockets, and messages with passed descriptors
// (SCM_RIGHTS). All descriptors are created close-on-exec.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/fd.h"

namespace nahanni {

Result<UniqueFd> unix_connect(const std::string& path);
// Removes a stale socket file first (one nobody listens on); backlog as listen(2).
Result<UniqueFd> unix_listen(const std::string& path, int backlog = 16);
Result<UniqueFd> tcp_connect(const std::string& host, const std::string& port);
Result<UniqueFd> tcp_listen(const std::string& host, const std::string& port, int backlog = 16);

void set_nonblocking(int fd, bool on);

// sendmsg with optional descriptors. Returns bytes sent, or -1 with errno (EAGAIN included).
ssize_t send_with_fds(int sock, std::span<const std::byte> data, std::span<const int> fds);
// recvmsg that collects passed descriptors (owned, close-on-exec) into `fds`.
// Returns bytes read (0 at EOF), or -1 with errno. At most `max_fds` are kept; any others the
// sender passed are closed. `lost`, if given, is set when the kernel dropped descriptors the
// sender passed (MSG_CTRUNC): because this process is out of descriptors (RLIMIT_NOFILE), or
// because the message carried more than fit.
ssize_t recv_with_fds(int sock, std::span<std::byte> buf, std::vector<UniqueFd>& fds, size_t max_fds = 16,
                      bool* lost = nullptr);

// The uid/gid/pid of the peer of a unix socket.
struct PeerCredentials {
  int pid = -1;
  unsigned uid = 0;
  unsigned gid = 0;
};
Result<PeerCredentials> peer_credentials(int sock);

}  // namespace nahanni
