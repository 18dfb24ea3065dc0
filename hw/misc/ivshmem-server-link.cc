#include "hw/misc/ivshmem-server-link.h"

#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>

#include "chardev/char.h"
#include "hw/misc/ivshmem-common.h"
#include "monitor/events.h"
#include "system/main-loop.h"
#include "util/log.h"

namespace nahanni {
namespace {
// Enough to see what a broken server does; a hostile one cannot flood the log.
constexpr uint64_t kMaxComplaints = 8;
}  // namespace

IvshmemServerLink::IvshmemServerLink(IvshmemCommon& device, Chardev& chardev, unsigned vectors, unsigned max_peers)
    : device_(device), chardev_(chardev), vectors_(vectors), max_peers_(max_peers), sent_(vectors, 0),
      received_(vectors, 0) {}

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
        own_id_ = session_.own_id();
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

UniqueFd IvshmemServerLink::take_shared_memory() {
  struct stat st{};
  if (::fstat(shared_memory_.get(), &st) == 0) {
    memory_dev_ = st.st_dev;
    memory_ino_ = st.st_ino;
  }
  return std::move(shared_memory_);
}

Status IvshmemServerLink::attach() {
  NN_TRY(chardev_.attach(Chardev::Frontend{
      .on_read = [this](std::span<const uint8_t> data, std::vector<UniqueFd>& fds) {
        if (refused_) return;  // a server we would not rejoin: its messages and fds are dropped
        // Broken framing (descriptors that belong to no message): nothing it sends can be trusted.
        if (Status st = reader_.feed(std::as_bytes(data), std::move(fds)); !st)
          return stay_disconnected(st.error().message());
        process_messages();
      },
      .on_event = [this](ChardevEvent e) {
        if (e == ChardevEvent::Closed) on_disconnect();
        if (e == ChardevEvent::Opened) on_reconnect();
        // Messages ahead lack their descriptors: a new peer's eventfd would read as a departure.
        if (e == ChardevEvent::DescriptorsLost && !refused_)
          stay_disconnected("descriptors sent by the server were dropped (too many open files, or too many in one "
                            "message)");
      }}));
  attached_ = true;
  process_messages();  // what arrived together with the shared memory
  return {};
}

void IvshmemServerLink::process_messages() {
  while (!refused_) {
    auto message = reader_.next();
    if (!message) return;
    auto event = session_.handle(std::move(*message));
    if (!event) {
      if (rejoining_) return stay_disconnected(event.error().message());
      complain(event.error().message());
      continue;
    }
    if (rejoining_)
      handle_rejoin(std::move(*event));
    else
      handle_event(std::move(*event));
  }
}

void IvshmemServerLink::complain(const std::string& what) {
  ++bad_messages_;
  if (bad_messages_ <= kMaxComplaints) log::warnf("ivshmem: {}", what);
  if (bad_messages_ == kMaxComplaints) log::warning("ivshmem: further errors from this server are only counted");
}

void IvshmemServerLink::refuse_peer(uint16_t peer) {
  refused_ids_.set(peer);
  ++refused_peers_;
  if (refusal_logged_) return;
  refusal_logged_ = true;
  log::warnf("ivshmem: refusing peer {}: the device already has x-max-peers={} peers; further peers beyond the "
             "limit are only counted (refused-peers)",
             peer, max_peers_);
}

// Each accepted eventfd costs a map insertion and one fast-path attachment: a server announcing
// thousands of peers x vectors keeps the main loop responsive.
void IvshmemServerLink::handle_event(ivshmem::Event event) {
  using Kind = ivshmem::Event::Kind;
  switch (event.kind) {
    case Kind::kPeerVector: {
      if (refused_ids_.test(event.peer)) return;  // its eventfd closes with the event
      auto it = peers_.find(event.peer);
      if (it == peers_.end()) {
        if (peer_count() >= max_peers_) return refuse_peer(event.peer);
        it = peers_.emplace(event.peer, std::vector<UniqueFd>{}).first;
      }
      auto& fds = it->second;
      if (fds.size() >= vectors_) {
        ++dropped_eventfds_;  // more vectors than we have: the protocol says close the extra
        return;
      }
      fds.push_back(std::move(event.fd));
      device_.server_doorbell_added(event.peer, static_cast<unsigned>(fds.size() - 1), fds.back().get());
      return;
    }
    case Kind::kOwnVector: {
      if (own_.size() >= vectors_) {
        ++dropped_eventfds_;
        return;
      }
      unsigned vector = static_cast<unsigned>(own_.size());
      int fd = event.fd.get();
      OwnVector ov{std::move(event.fd), watch_own_vector(vector, fd)};
      own_.push_back(std::move(ov));
      device_.server_own_vector_added(vector);
      // Ringing ourselves is allowed: our own eventfds are in the table like any peer's.
      auto& self = peers_[own_id_];
      if (self.size() < vectors_) {
        self.emplace_back(::dup(fd));
        if (self.back()) device_.server_doorbell_added(own_id_, static_cast<unsigned>(self.size() - 1), self.back().get());
      }
      return;
    }
    case Kind::kPeerGone:
      if (refused_ids_.test(event.peer)) {
        refused_ids_.reset(event.peer);  // the id may come back as a new peer
        return;
      }
      device_.server_peer_leaving(event.peer);  // unbind before the eventfds close
      peers_.erase(event.peer);
      return;
    default: return;  // setup messages are handled in handshake()
  }
}

EventLoop::Handle IvshmemServerLink::watch_own_vector(unsigned vector, int fd) {
  return main_loop().watch_fd(fd, EventLoop::kReadable, [this, vector](uint32_t) { on_own_vector(vector); });
}

void IvshmemServerLink::set_own_vector_polling(unsigned vector, bool on) {
  if (vector >= own_.size() || own_[vector].watch.active() == on) return;
  if (on) own_[vector].watch = watch_own_vector(vector, own_[vector].fd.get());
  else own_[vector].watch.reset();
}

std::vector<std::tuple<uint32_t, unsigned, int>> IvshmemServerLink::doorbell_eventfds() const {
  std::vector<std::tuple<uint32_t, unsigned, int>> out;
  for (const auto& [peer, fds] : peers_)
    for (unsigned v = 0; v < fds.size(); ++v) out.emplace_back(peer, v, fds[v].get());
  return out;
}

void IvshmemServerLink::on_own_vector(unsigned vector) {
  uint64_t count = 0;
  if (::read(own_[vector].fd.get(), &count, sizeof count) != sizeof count) return;
  received_[vector] += count;
  device_.vector_rung(vector);
}

void IvshmemServerLink::on_disconnect() {
  // Peers keep working without the server; we only stop hearing about arrivals and departures.
  bool was_connected = connected_;
  connected_ = false;
  rejoining_ = false;
  if (was_connected) {
    log::warning("ivshmem: lost the connection to the ivshmem server; the shared memory and the known peers stay");
    emit_server_event("IVSHMEM_SERVER_DISCONNECTED", "connection closed");
  }
}

void IvshmemServerLink::on_reconnect() {
  if (connected_) return;  // attaching to a connected chardev reports it open: not a new server
  // A restarted server numbers peers afresh: start its setup from the beginning.
  reader_ = ivshmem::MessageReader();
  session_ = ivshmem::ClientSession();
  rejoining_ = true;
  refused_ = false;
}

void IvshmemServerLink::handle_rejoin(ivshmem::Event event) {
  if (event.kind != ivshmem::Event::Kind::kSharedMemory) return;  // version and id: checked by the session
  struct stat st{};
  if (::fstat(event.fd.get(), &st) < 0 || st.st_dev != memory_dev_ || st.st_ino != memory_ino_)
    return stay_disconnected("the server offers different shared memory than the guest already uses");
  // Same memory: the guest's data is where it was. Old eventfds are from the old server's
  // numbering, so the peer table starts again from what this server sends.
  rejoining_ = false;
  device_.server_link_resetting();  // unbind before the eventfds close
  peers_.clear();
  own_.clear();
  refused_ids_.reset();
  refusal_logged_ = false;
  own_id_ = session_.own_id();
  connected_ = true;
  log::infof("ivshmem: rejoined the restarted ivshmem server as peer {}", own_id_);
  emit_server_event("IVSHMEM_SERVER_CONNECTED", "");
}

void IvshmemServerLink::stay_disconnected(const std::string& reason) {
  rejoining_ = false;
  refused_ = true;
  connected_ = false;
  reader_ = ivshmem::MessageReader();  // closes descriptors of messages not handled yet
  log::warnf("ivshmem: ignoring the ivshmem server from now on: {}", reason);
  emit_server_event("IVSHMEM_SERVER_DISCONNECTED", reason);
}

void IvshmemServerLink::emit_server_event(const char* name, const std::string& reason) {
  nlohmann::json data = nlohmann::json::object();
  if (!device_.id().empty()) data["device"] = device_.id();
  data["path"] = device_.path();
  if (!reason.empty()) data["reason"] = reason;
  if (connected_) data["id"] = own_id_;
  emit_event(name, data);
}

unsigned IvshmemServerLink::peer_vectors(uint32_t peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : static_cast<unsigned>(it->second.size());
}

void IvshmemServerLink::ring(uint32_t peer, uint32_t vector) {
  auto it = peers_.find(peer);
  if (it == peers_.end() || vector >= it->second.size()) {
    ++dropped_rings_;  // an unknown or departed peer: dropped silently, as the spec says
    return;
  }
  uint64_t one = 1;
  if (::write(it->second[vector].get(), &one, sizeof one) == sizeof one)
    ++sent_[vector];
  else
    ++dropped_rings_;
}

uint64_t IvshmemServerLink::open_fds() const {
  uint64_t n = own_.size() + (shared_memory_ ? 1 : 0);
  for (const auto& [peer, fds] : peers_) n += fds.size();
  return n;
}

void IvshmemServerLink::status(nlohmann::json& out) const {
  out = nlohmann::json::object();
  out["id"] = own_id_;
  out["server-connected"] = connected_;
  out["setup-complete"] = setup_complete();
  out["vectors"] = vectors_;
  nlohmann::json peers = nlohmann::json::array();
  for (const auto& [peer, fds] : peers_)
    if (peer != own_id_) peers.push_back({{"id", peer}, {"vectors", fds.size()}});
  out["peers"] = peers;
  out["doorbells-sent"] = sent_;
  out["doorbells-received"] = received_;
  out["dropped-eventfds"] = dropped_eventfds_;
  out["doorbells-dropped"] = dropped_rings_;
  out["bad-messages"] = bad_messages_;
  out["max-peers"] = max_peers_;
  out["refused-peers"] = refused_peers_;
}

}  // namespace nahanni
