// The ivshmem server proper: accepts peers on a listening unix socket, gives each an id and
// its eventfds, and keeps every peer's view of the others up to date. One epoll loop, no
// per-peer threads, and never a blocking write: each peer has a bounded outbox, and a peer
// whose outbox overflows is dropped (its departure announced to the others like any other).
//
// Extension (wire compatible): a peer may send one 8-byte little-endian int64 N asking for
// N vectors in all (1..max_vectors), once: anything more gets it dropped. If N exceeds what
// it has, the server creates the extra eventfds and sends them as more "own id + fd"
// messages to it and "its id + fd" messages to the others, exactly as the protocol announces
// vectors. QEMU's peers never send anything, and get the default -n vectors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <vector>

#include "contrib/ivshmem-protocol/message-queue.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "peer-table.h"
#include "util/event-loop.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

class IvshmemServer {
 public:
  struct Config {
    unsigned vectors = 1;
    unsigned max_vectors = 64;
    unsigned max_peers = 65536;
    size_t max_queue = 4096;
    std::vector<unsigned> allow_uids;
    std::vector<unsigned> allow_gids;
    bool verbose = false;
    std::string shm_description;  // for the status dump
    uint64_t shm_size = 0;
  };

  // `listener` must be a listening unix stream socket; it is made non-blocking.
  IvshmemServer(EventLoop& loop, Config config, UniqueFd listener, SharedFd shared_memory);
  IvshmemServer(const IvshmemServer&) = delete;
  IvshmemServer& operator=(const IvshmemServer&) = delete;

  void start();
  // One line per peer: id, pid, uid, gid, vectors, messages queued, bytes sent.
  void dump_status(std::FILE* out);
  size_t peer_count() const { return peers_.size(); }

 private:
  struct PeerInput {
    MessageReader reader;
    bool asked = false;  // its one vector request has come
  };
  static constexpr int kAcceptsPerWakeup = 16;

  void on_listener_ready();
  // accept() failed for lack of descriptors: closes the newcomer's connection (true) if the
  // reserved descriptor allows it.
  bool refuse_for_lack_of_fds();
  void admit(UniqueFd sock);
  bool allowed(const PeerCredentials& cred) const;
  void on_peer_event(uint16_t id, uint32_t revents);
  void read_requests(Peer& peer);
  void grow_vectors(Peer& peer, unsigned wanted);
  // Tells every peer but `about` of its vectors `fds` (one message each), or of its departure
  // (no fds), and flushes each; a peer over its bound is doomed.
  void announce(uint16_t about, std::span<const SharedFd> fds);
  void queue(Peer& peer, int64_t value, const SharedFd& fd);
  void flush(Peer& peer);
  void flush_all();
  void doom(uint16_t id, std::string reason);
  // Removes doomed peers, announcing each departure, until none is left.
  void reap();

  EventLoop& loop_;
  Config config_;
  UniqueFd listener_;
  UniqueFd spare_fd_;  // kept free for refusing peers when out of descriptors
  SharedFd shared_memory_;
  EventLoop::Handle listener_watch_;
  EventLoop::Handle accept_retry_;
  EventLoop::Handle inflight_retry_;
  PeerTable peers_;
  std::map<uint16_t, PeerInput> inputs_;
  std::vector<std::pair<uint16_t, std::string>> doomed_;
  std::vector<PeerVectors> greeting_others_;  // admit()'s scratch list of the other peers
  uint64_t peers_served_ = 0;
  uint64_t refused_for_fds_ = 0;
};

}  // namespace nahanni::ivshmem
