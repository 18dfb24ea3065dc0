// A doorbell device's connection to an ivshmem server, over a chardev: the setup handshake
// (done synchronously in realize, bounded by a timeout, so the guest never sees an empty BAR),
// then the peer table as peers come and go, our own vectors' eventfds watched on the main loop,
// and the Doorbell: writing 1 to a peer's eventfd for a vector. Per-vector counters for QMP.
//
// Faults (docs/system/security.rst): losing the server emits IVSHMEM_SERVER_DISCONNECTED and
// keeps the memory and the peers' eventfds; when the chardev reconnects (reconnect=N) to a
// restarted server, the device rejoins only if that server hands out the very same memory
// object (IVSHMEM_SERVER_CONNECTED), and otherwise stays disconnected. Rings that reach no
// eventfd and messages that make no sense are counted, and only the first few are logged.
// A server cannot make us hold more than `max_peers` other peers: the eventfds of peers beyond
// that are closed as they arrive, the peers counted (`refused-peers`), and one warning logged.
#pragma once

#include <sys/types.h>

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <bitset>
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "contrib/ivshmem-protocol/client-session.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "util/event-loop.h"
#include "util/fd.h"

namespace nahanni {

class Chardev;
class IvshmemCommon;

class IvshmemServerLink {
 public:
  // Peers a device accepts unless told otherwise (x-max-peers): far more than ivshmem is used
  // with, and few enough that peers x vectors eventfds stay within a raised RLIMIT_NOFILE.
  static constexpr unsigned kDefaultMaxPeers = 1024;
  IvshmemServerLink(IvshmemCommon& device, Chardev& chardev, unsigned vectors,
                    unsigned max_peers = kDefaultMaxPeers);
  ~IvshmemServerLink();
  IvshmemServerLink(const IvshmemServerLink&) = delete;
  IvshmemServerLink& operator=(const IvshmemServerLink&) = delete;

  // Reads the version, our id and the shared memory; errors name what the server did wrong.
  Status handshake(std::chrono::milliseconds timeout);
  // Also records the object's identity, to recognise it when a restarted server offers it again.
  UniqueFd take_shared_memory();
  // From now on server messages are handled as they arrive.
  Status attach();

  uint16_t own_id() const { return own_id_; }
  bool server_connected() const { return connected_; }
  // All our vectors' eventfds have arrived, so peers can ring us.
  bool setup_complete() const { return own_.size() >= vectors_; }
  unsigned own_vectors() const { return static_cast<unsigned>(own_.size()); }
  unsigned peer_vectors(uint32_t peer) const;
  // Connected peers other than ourselves.
  unsigned peer_count() const { return static_cast<unsigned>(peers_.size() - peers_.count(own_id_)); }
  uint64_t open_fds() const;

  // The Doorbell register: silently ignored for unknown peers or vectors (the spec says so).
  void ring(uint32_t peer, uint32_t vector);
  void status(nlohmann::json& out) const;

  // For the fast paths (ivshmem-fast-paths.h): every (peer, vector, eventfd) the Doorbell can
  // reach, our own vector's eventfd (-1 before it arrives), and whether the main loop polls it
  // (off while an irqfd lets the kernel consume it).
  std::vector<std::tuple<uint32_t, unsigned, int>> doorbell_eventfds() const;
  int own_vector_fd(unsigned vector) const { return vector < own_.size() ? own_[vector].fd.get() : -1; }
  void set_own_vector_polling(unsigned vector, bool on);

 private:
  struct OwnVector {
    UniqueFd fd;
    EventLoop::Handle watch;
  };
  void process_messages();
  void handle_event(ivshmem::Event event);
  void on_own_vector(unsigned vector);
  EventLoop::Handle watch_own_vector(unsigned vector, int fd);
  void on_disconnect();
  void on_reconnect();
  // The setup messages of a restarted server, after a reconnect.
  void handle_rejoin(ivshmem::Event event);
  void stay_disconnected(const std::string& reason);
  // Logs the first few protocol complaints, then only counts them.
  void complain(const std::string& what);
  // A peer beyond max_peers: its eventfds are closed as they come, until it leaves.
  void refuse_peer(uint16_t peer);
  void emit_server_event(const char* name, const std::string& reason);

  IvshmemCommon& device_;
  Chardev& chardev_;
  unsigned vectors_;
  unsigned max_peers_;
  ivshmem::MessageReader reader_;
  ivshmem::ClientSession session_;
  UniqueFd shared_memory_;
  std::map<uint32_t, std::vector<UniqueFd>> peers_;  // peer id -> eventfd per vector
  std::vector<OwnVector> own_;
  std::vector<uint64_t> sent_;      // doorbells we rang, per vector
  std::vector<uint64_t> received_;  // doorbells we got, per vector
  uint64_t dropped_eventfds_ = 0;   // beyond our vector count, closed as the protocol says
  uint64_t dropped_rings_ = 0;      // Doorbell writes that reached no eventfd
  uint64_t bad_messages_ = 0;       // server messages rejected after setup
  uint64_t refused_peers_ = 0;      // peers announced beyond max_peers
  std::bitset<65536> refused_ids_;  // those still connected, by id
  bool refusal_logged_ = false;
  uint16_t own_id_ = 0;
  dev_t memory_dev_ = 0;            // identity of the shared memory object we map
  ino_t memory_ino_ = 0;
  bool connected_ = false;
  bool attached_ = false;
  bool rejoining_ = false;          // a reconnected server is going through setup
  bool refused_ = false;            // that server failed setup or offered other memory
};

}  // namespace nahanni
