// A doorbell device's connection to an ivshmem server, over a chardev: the setup handshake
// (done synchronously in realize, bounded by a timeout, so the guest never sees an empty BAR),
// then the peer table as peers come and go, our own vectors' eventfds watched on the main loop,
// and the Doorbell: writing 1 to a peer's eventfd for a vector. Per-vector counters for QMP.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <cstdint>
#include <map>
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
  IvshmemServerLink(IvshmemCommon& device, Chardev& chardev, unsigned vectors);
  ~IvshmemServerLink();
  IvshmemServerLink(const IvshmemServerLink&) = delete;
  IvshmemServerLink& operator=(const IvshmemServerLink&) = delete;

  // Reads the version, our id and the shared memory; errors name what the server did wrong.
  Status handshake(std::chrono::milliseconds timeout);
  UniqueFd take_shared_memory() { return std::move(shared_memory_); }
  // From now on server messages are handled as they arrive.
  Status attach();

  uint16_t own_id() const { return session_.own_id(); }
  bool server_connected() const { return connected_; }
  // All our vectors' eventfds have arrived, so peers can ring us.
  bool setup_complete() const { return own_.size() >= vectors_; }
  unsigned own_vectors() const { return static_cast<unsigned>(own_.size()); }
  unsigned peer_vectors(uint32_t peer) const;
  // Connected peers other than ourselves.
  unsigned peer_count() const { return static_cast<unsigned>(peers_.size() - peers_.count(session_.own_id())); }
  uint64_t open_fds() const;

  // The Doorbell register: silently ignored for unknown peers or vectors (the spec says so).
  void ring(uint32_t peer, uint32_t vector);
  void status(nlohmann::json& out) const;

 private:
  struct OwnVector {
    UniqueFd fd;
    EventLoop::Handle watch;
  };
  void process_messages();
  void handle_event(ivshmem::Event event);
  void on_own_vector(unsigned vector);
  void on_disconnect();

  IvshmemCommon& device_;
  Chardev& chardev_;
  unsigned vectors_;
  ivshmem::MessageReader reader_;
  ivshmem::ClientSession session_;
  UniqueFd shared_memory_;
  std::map<uint32_t, std::vector<UniqueFd>> peers_;  // peer id -> eventfd per vector
  std::vector<OwnVector> own_;
  std::vector<uint64_t> sent_;      // doorbells we rang, per vector
  std::vector<uint64_t> received_;  // doorbells we got, per vector
  uint64_t dropped_eventfds_ = 0;   // beyond our vector count, closed as the protocol says
  bool connected_ = false;
  bool attached_ = false;
};

}  // namespace nahanni
