// A host-side ivshmem peer: connects to the server, follows the protocol through a
// MessageReader and ClientSession, keeps every peer's eventfds, rings them and reports
// the doorbells rung on its own vectors.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "contrib/ivshmem-protocol/client-session.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "util/error.h"
#include "util/event-loop.h"
#include "util/fd.h"

namespace nahanni::ivshmem {

class IvshmemClient {
 public:
  struct Callbacks {
    std::function<void(unsigned vector, uint64_t count)> on_notification;
    std::function<void()> on_change;  // setup complete, or a peer came, grew or left
    std::function<void(const Error&)> on_fatal;  // protocol failure or server gone
  };

  static Result<std::unique_ptr<IvshmemClient>> connect(EventLoop& loop, const std::string& path, Callbacks callbacks,
                                                        bool verbose);

  // Setup complete: id, memory and our own vectors received and nothing more pending.
  bool ready() const { return ready_; }
  uint16_t own_id() const { return session_.own_id(); }
  unsigned own_vectors() const { return static_cast<unsigned>(own_.size()); }
  // Vectors we can ring on `peer` (0 if unknown).
  unsigned vectors_of(uint16_t peer) const;
  std::vector<uint16_t> peer_ids() const;

  Status notify(uint16_t peer, unsigned vector);
  // Every vector of one peer / of every other peer.
  Status notify_peer_all(uint16_t peer);
  Status notify_everyone();
  // Extension: ask the server for `n` vectors in all (see ivshmem-server(8)).
  Status request_vectors(unsigned n);
  void dump(std::FILE* out) const;

  // Use connect(); `sock` is a connected unix socket.
  IvshmemClient(EventLoop& loop, UniqueFd sock, Callbacks callbacks, bool verbose);
  IvshmemClient(const IvshmemClient&) = delete;
  IvshmemClient& operator=(const IvshmemClient&) = delete;

 private:
  void on_socket(uint32_t revents);
  Status apply(Event event);
  void on_own_vector(unsigned vector);
  void fatal(Error error);

  struct OwnVector {
    UniqueFd fd;
    EventLoop::Handle watch;
  };

  EventLoop& loop_;
  UniqueFd sock_;
  Callbacks callbacks_;
  bool verbose_;
  EventLoop::Handle sock_watch_;
  MessageReader reader_;
  ClientSession session_;
  UniqueFd shared_memory_;
  std::map<uint16_t, std::vector<UniqueFd>> peers_;
  std::vector<std::unique_ptr<OwnVector>> own_;
  bool ready_ = false;
  bool failed_ = false;
};

}  // namespace nahanni::ivshmem
