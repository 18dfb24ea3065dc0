// ivshmem-server's command line: QEMU's options and defaults, plus nahanni's extensions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "util/error.h"

namespace nahanni::ivshmem {

struct ServerOptions {
  std::string socket_path = "/tmp/ivshmem_socket";   // -S
  std::optional<std::string> shm_name;               // -M: POSIX shm object (QEMU's default "ivshmem")
  std::optional<std::string> shm_dir;                // -m: unlinked file in a directory (hugetlbfs)
  uint64_t shm_size = 4 << 20;                       // -l
  unsigned vectors = 1;                              // -n: what a peer gets unless it asks
  std::optional<std::string> pid_file;               // -p
  bool foreground = false;                           // -F
  bool verbose = false;                              // -v
  bool help = false;                                 // -h
  bool keep_shm = false;                             // --keep-shm
  unsigned max_peers = 65536;                        // --max-peers
  unsigned max_vectors = 64;                         // --max-vectors: bound for a peer's request
  size_t max_queue = 4096;                           // --max-queue: messages owed beyond a greeting
  std::optional<unsigned> socket_mode;               // --socket-mode (octal); kDefaultSocketMode if unset
  std::vector<unsigned> allow_uids;                  // --allow-uid
  std::vector<unsigned> allow_gids;                  // --allow-gid
};

inline constexpr const char* kDefaultPidFile = "/var/run/ivshmem-server.pid";
inline constexpr unsigned kMaxServerVectors = 64;
// QEMU's server leaves the mode to the umask; ours is owner-only unless --socket-mode widens it.
inline constexpr unsigned kDefaultSocketMode = 0600;

Result<ServerOptions> parse_server_options(int argc, char** argv);
void print_server_usage(const char* program);

}  // namespace nahanni::ivshmem
