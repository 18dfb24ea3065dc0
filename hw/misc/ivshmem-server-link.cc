#include "hw/misc/ivshmem-server-link.h"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <cerrno>

#include "chardev/char.h"
#include "hw/misc/ivshmem-common.h"
#include "system/main-loop.h"
#include "util/log.h"

namespace nahanni {

IvshmemServerLink::IvshmemServerLink(IvshmemCommon& device, Chardev& chardev, unsigned vectors)
    : device_(device), chardev_(chardev), vectors_(vectors), sent_(vectors, 0), received_(vectors, 0) {}

IvshmemServerLink::~IvshmemServerLink() {
  if (attached_) chardev_.detach();
  own_.clear();  // watches go before their descriptors close (members destroy in reverse order)
}

Status IvshmemServerLink::handshake(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    while (auto message = reader_.next()) {
      auto event = session_.handle(std::move(*message));
      if (!event) return Error::format("{}", event.error().message());
      if (event->kind == ivshmem::Event::Kind::kSharedMemory) {
        shared_memory_ = std::move(event->fd);
        connected_ = true;
        return {};
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0)
      return Error::format("server did not complete the setup within {} ms (version, id and shared memory)",
                           timeout.count());
    uint8_t buf[512];
    std::vector<UniqueFd> fds;
    auto n = chardev_.read_blocking(std::span(buf), fds, left);
    if (!n) {
      if (n.error().message().find("timed out") != std::string::npos)
        continue;  // the deadline check above reports it
      return Error::format("read from server failed: {}", n.error().message());
    }
    if (*n == 0) return Error("server closed the connection during setup");
    if (Status st = reader_.feed(std::as_bytes(std::span(buf, *n)), std::move(fds)); !st)
      return Error::format("{}", st.error().message());
  }
}

Status IvshmemServerLink::attach() {
  NN_TRY(chardev_.attach(Chardev::Frontend{
      .on_read = [this](std::span<const uint8_t> data, std::vector<UniqueFd>& fds) {
        if (Status st = reader_.feed(std::as_bytes(data), std::move(fds)); !st)
          log::warnf("ivshmem: {}", st.error().message());
        process_messages();
      },
      .on_event = [this](ChardevEvent e) {
        if (e == ChardevEvent::Closed) on_disconnect();
      }}));
  attached_ = true;
  process_messages();  // what arrived together with the shared memory
  return {};
}

void IvshmemServerLink::process_messages() {
  while (auto message = reader_.next()) {
    auto event = session_.handle(std::move(*message));
    if (!event) {
      log::warnf("ivshmem: {}", event.error().message());
      continue;
    }
    handle_event(std::move(*event));
  }
}

void IvshmemServerLink::handle_event(ivshmem::Event event) {
  using Kind = ivshmem::Event::Kind;
  switch (event.kind) {
    case Kind::kPeerVector: {
      auto& fds = peers_[event.peer];
      if (fds.size() >= vectors_) {
        ++dropped_eventfds_;  // more vectors than we have: the protocol says close the extra
        return;
      }
      fds.push_back(std::move(event.fd));
      return;
    }
    case Kind::kOwnVector: {
      if (own_.size() >= vectors_) {
        ++dropped_eventfds_;
        return;
      }
      unsigned vector = static_cast<unsigned>(own_.size());
      int fd = event.fd.get();
      OwnVector ov{std::move(event.fd), main_loop().watch_fd(fd, EventLoop::kReadable, [this, vector](uint32_t) {
                     on_own_vector(vector);
                   })};
      own_.push_back(std::move(ov));
      // Ringing ourselves is allowed: our own eventfds are in the table like any peer's.
      auto& self = peers_[session_.own_id()];
      if (self.size() < vectors_) self.emplace_back(::dup(fd));
      return;
    }
    case Kind::kPeerGone: peers_.erase(event.peer); return;
    default: return;  // setup messages are handled in handshake()
  }
}

void IvshmemServerLink::on_own_vector(unsigned vector) {
  uint64_t count = 0;
  if (::read(own_[vector].fd.get(), &count, sizeof count) != sizeof count) return;
  received_[vector] += count;
  device_.vector_rung(vector);
}

void IvshmemServerLink::on_disconnect() {
  // Peers keep working without the server; we only stop hearing about arrivals and departures.
  connected_ = false;
}

unsigned IvshmemServerLink::peer_vectors(uint32_t peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : static_cast<unsigned>(it->second.size());
}

void IvshmemServerLink::ring(uint32_t peer, uint32_t vector) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || vector >= it->second.size()) return;
  uint64_t one = 1;
  if (::write(it->second[vector].get(), &one, sizeof one) == sizeof one) ++sent_[vector];
}

uint64_t IvshmemServerLink::open_fds() const {
  uint64_t n = own_.size() + (shared_memory_ ? 1 : 0);
  for (const auto& [peer, fds] : peers_) n += fds.size();
  return n;
}

void IvshmemServerLink::status(nlohmann::json& out) const {
  out = nlohmann::json::object();
  out["id"] = session_.own_id();
  out["server-connected"] = connected_;
  out["setup-complete"] = setup_complete();
  out["vectors"] = vectors_;
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& [peer, fds] : peers_)
    if (peer != session_.own_id()) peers.push_back({{"id", peer}, {"vectors", fds.size()}});
  out["peers"] = peers;
  out["doorbells-sent"] = sent_;
  out["doorbells-received"] = received_;
  out["dropped-eventfds"] = dropped_eventfds_;
}

}  // namespace nahanni
