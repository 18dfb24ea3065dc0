#include "server.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "util/log.h"
#include "util/socket.h"

namespace nahanni::ivshmem {

IvshmemServer::IvshmemServer(EventLoop& loop, Config config, UniqueFd listener, SharedFd shared_memory)
    : loop_(loop), config_(std::move(config)), listener_(std::move(listener)), shared_memory_(std::move(shared_memory)) {
  set_nonblocking(listener_.get(), true);
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

bool IvshmemServer::refuse_for_lack_of_fds() {
  if (!spare_fd_) return false;
  // Free the spare descriptor, take the waiting connection with it and close that at once:
  // the newcomer sees EOF instead of waiting in the backlog; the peers we have go on.
  spare_fd_.reset();
  UniqueFd sock(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
  bool refused = sock.valid();
  sock.reset();  // before taking the spare back: it needs the very slot the newcomer had
  spare_fd_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!refused) return false;
  ++refused_for_fds_;
  // Powers of two only: a client retrying in a loop must not flood the log.
  if ((refused_for_fds_ & (refused_for_fds_ - 1)) == 0)
    log::warnf("refusing a new peer: {} ({} refused so far)", std::strerror(EMFILE), refused_for_fds_);
  return true;
}

void IvshmemServer::start() {
  listener_watch_ = loop_.watch_fd(listener_.get(), EventLoop::kReadable, [this](uint32_t) { on_listener_ready(); });
}

bool IvshmemServer::allowed(const PeerCredentials& cred) const {
  if (config_.allow_uids.empty() && config_.allow_gids.empty()) return true;
  auto has = [](const std::vector<unsigned>& list, unsigned v) {
    return std::find(list.begin(), list.end(), v) != list.end();
  };
  return has(config_.allow_uids, cred.uid) || has(config_.allow_gids, cred.gid);
}

void IvshmemServer::on_listener_ready() {
  // Each arrival costs a message to every peer: a bounded batch per wake-up, so a storm of
  // connections cannot keep the peers already there from being served (level-triggered: the
  // rest of the backlog wakes us again).
  for (int budget = kAcceptsPerWakeup; budget > 0; --budget) {
    UniqueFd sock(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!sock) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if ((errno == EMFILE || errno == ENFILE) && refuse_for_lack_of_fds()) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the listener stays readable, so pause instead of spinning.
        log::warnf("cannot accept a new peer: {}", std::strerror(errno));
        listener_watch_.set_events(0);
        accept_retry_ = loop_.add_timer(std::chrono::milliseconds(100),
                                        [this] { listener_watch_.set_events(EventLoop::kReadable); });
      }
      break;
    }
    admit(std::move(sock));
    reap();
  }
}

void IvshmemServer::admit(UniqueFd sock) {
  auto cred = peer_credentials(sock.get());
  if (!cred) {
    log::warnf("refusing a peer: {}", cred.error().message());
    return;
  }
  if (!allowed(*cred)) {
    if (config_.verbose) log::infof("refusing peer pid {} uid {} gid {}: not allowed", cred->pid, cred->uid, cred->gid);
    return;
  }
  if (peers_.size() >= config_.max_peers) {
    log::warnf("refusing peer pid {}: already {} peers (--max-peers)", cred->pid, peers_.size());
    return;
  }
  auto id = peers_.allocate_id();
  if (!id) {
    log::error("cannot allocate new client id");
    return;
  }

  Peer peer;
  peer.id = *id;
  peer.sock = std::move(sock);
  peer.credentials = *cred;
  for (unsigned v = 0; v < config_.vectors; ++v) {
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd) {
      log::warnf("refusing peer pid {}: cannot create eventfd: {}", cred->pid, std::strerror(errno));
      return;
    }
    peer.vectors.push_back(make_shared_fd(std::move(efd)));
  }

  // Everyone else learns about the newcomer before the newcomer hears anything.
  announce(peer.id, peer.vectors);

  // One list reused from arrival to arrival: a fresh one each time, freed just before the next,
  // slightly longer one was needed, left a hole in the heap per arrival (RSS grew with N²).
  std::vector<PeerVectors>& others = greeting_others_;
  others.clear();
  for (auto& [other_id, other] : peers_) others.push_back(PeerVectors{other_id, other.vectors});
  PeerVectors self{peer.id, peer.vectors};
  peer.outbox = MessageQueue(config_.max_queue);
  peer.outbox.raise_limit(greeting_length(others, self.vectors.size()));
  bool fits = push_greeting(peer.outbox, shared_memory_, others, self);
  (void)fits;  // the bound was raised by the greeting's length: it always fits

  uint16_t new_id = peer.id;
  int fd = peer.sock.get();
  Peer& added = peers_.add(std::move(peer));
  added.watch = loop_.watch_fd(fd, EventLoop::kReadable, [this, new_id](uint32_t ev) { on_peer_event(new_id, ev); });
  inputs_.erase(new_id);
  ++peers_served_;
  if (config_.verbose)
    log::infof("peer {} connected (pid {}, uid {}, gid {}, {} vectors)", new_id, cred->pid, cred->uid, cred->gid,
               config_.vectors);
  flush(added);
}

void IvshmemServer::queue(Peer& peer, int64_t value, const SharedFd& fd) {
  if (!peer.outbox.push(value, fd))
    doom(peer.id, fmt::format("it stopped reading ({} messages queued)", peer.outbox.size()));
}

void IvshmemServer::announce(uint16_t about, std::span<const SharedFd> fds) {
  // One pass: each peer's messages go out while its state is still in the cache, instead
  // of a second walk over every peer to flush (which, with thousands of peers, was mostly
  // cache misses). A peer waiting for room is flushed when its socket says so.
  for (auto& [id, peer] : peers_) {
    if (id == about) continue;
    if (fds.empty())
      queue(peer, about, nullptr);
    else
      for (const auto& fd : fds) queue(peer, about, fd);
    if (!peer.writable_watched) flush(peer);
  }
}

void IvshmemServer::flush(Peer& peer) {
  switch (peer.outbox.flush(peer.sock.get())) {
    case MessageQueue::FlushResult::kEmpty:
      if (peer.writable_watched) {
        peer.watch.set_events(EventLoop::kReadable);
        peer.writable_watched = false;
      }
      break;
    case MessageQueue::FlushResult::kBlocked:
      if (!peer.writable_watched) {
        peer.watch.set_events(EventLoop::kReadable | EventLoop::kWritable);
        peer.writable_watched = true;
      }
      break;
    case MessageQueue::FlushResult::kError:
      if (errno == ETOOMANYREFS) {
        // Too many descriptors in flight for our user: the kernel frees them as peers read,
        // but no writability event tells us when, so retry shortly.
        if (!inflight_retry_.active())
          inflight_retry_ = loop_.add_timer(std::chrono::milliseconds(10), [this] {
            inflight_retry_.reset();
            flush_all();
            reap();
          });
        break;
      }
      if (errno == EPIPE || errno == ECONNRESET)
        doom(peer.id, "");
      else
        doom(peer.id, fmt::format("cannot send: {}", std::strerror(errno)));
      break;
  }
}

void IvshmemServer::flush_all() {
  for (auto& [id, peer] : peers_)
    if (!peer.outbox.empty()) flush(peer);
}

void IvshmemServer::doom(uint16_t id, std::string reason) {
  for (const auto& d : doomed_)
    if (d.first == id) return;
  doomed_.emplace_back(id, std::move(reason));
}

void IvshmemServer::reap() {
  // Announcing a departure may doom more peers (full queues, closed sockets): on until none.
  while (!doomed_.empty()) {
    auto [id, reason] = std::move(doomed_.back());
    doomed_.pop_back();
    if (!peers_.remove(id)) continue;  // its socket and eventfds close here, before anyone hears
    inputs_.erase(id);
    if (!reason.empty())
      log::warnf("dropping peer {}: {}", id, reason);
    else if (config_.verbose)
      log::infof("peer {} disconnected", id);
    // The id is free again only now, after every remaining queue holds the departure.
    announce(id, {});
  }
}

void IvshmemServer::on_peer_event(uint16_t id, uint32_t revents) {
  Peer* peer = peers_.find(id);
  if (!peer) return;
  if (revents & EventLoop::kWritable) flush(*peer);
  if (revents & (EventLoop::kReadable | EventLoop::kHangup | EventLoop::kError)) read_requests(*peer);
  reap();
}

void IvshmemServer::read_requests(Peer& peer) {
  // A peer has one thing to say in its whole life: its vector request. So one read of two
  // messages' worth per wake-up is all an honest peer needs, and enough to catch a second
  // request; a peer writing as fast as it can is dropped at its second message instead of
  // holding the loop while the others wait. Unread bytes wake us again (level-triggered).
  PeerInput& input = inputs_[peer.id];
  std::byte buf[2 * kMessageSize];
  std::vector<UniqueFd> fds;
  ssize_t n = recv_with_fds(peer.sock.get(), buf, fds, 4);
  if (n == 0) return doom(peer.id, "");
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
    if (errno == ECONNRESET) return doom(peer.id, "");
    return doom(peer.id, fmt::format("cannot read: {}", std::strerror(errno)));
  }
  if (!fds.empty()) return doom(peer.id, "it sent a file descriptor");
  if (auto st = input.reader.feed(std::span<const std::byte>(buf, static_cast<size_t>(n))); !st)
    return doom(peer.id, st.error().message());
  while (auto msg = input.reader.next()) {
    if (input.asked) return doom(peer.id, "it sent more than one vector request");
    input.asked = true;
    if (msg->value < 1 || msg->value > config_.max_vectors)
      return doom(peer.id, fmt::format("it asked for {} vectors (max is {})", msg->value, config_.max_vectors));
    grow_vectors(peer, static_cast<unsigned>(msg->value));
  }
}

void IvshmemServer::grow_vectors(Peer& peer, unsigned wanted) {
  size_t had = peer.vectors.size();
  if (had >= wanted) {
    if (config_.verbose) log::infof("peer {} now has {} vectors", peer.id, had);
    return;
  }
  // All the eventfds first: a peer we cannot serve in full is dropped before anyone hears of
  // a part of its vectors.
  std::vector<SharedFd> added;
  while (had + added.size() < wanted) {
    UniqueFd efd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!efd) return doom(peer.id, fmt::format("cannot create eventfd: {}", std::strerror(errno)));
    added.push_back(make_shared_fd(std::move(efd)));
  }
  peer.vectors.insert(peer.vectors.end(), added.begin(), added.end());
  announce(peer.id, added);
  // Its own growth is owed to it beyond any bound: it asked for it.
  peer.outbox.raise_limit(added.size());
  for (const auto& fd : added) queue(peer, peer.id, fd);
  if (!peer.writable_watched) flush(peer);
  if (config_.verbose) log::infof("peer {} now has {} vectors", peer.id, peer.vectors.size());
}

void IvshmemServer::dump_status(std::FILE* out) {
  uint64_t total = 0;
  for (auto& [id, peer] : peers_) total += peer.outbox.bytes_sent();
  fmt::print(out, "ivshmem-server status: {} peers, {} connected since start, shared memory {} of {} bytes\n",
             peers_.size(), peers_served_, config_.shm_description, config_.shm_size);
  for (auto& [id, peer] : peers_)
    fmt::print(out, "peer {}: pid {} uid {} gid {} vectors {} queued {} sent {} bytes\n", id, peer.credentials.pid,
               peer.credentials.uid, peer.credentials.gid, peer.vectors.size(), peer.outbox.size(),
               peer.outbox.bytes_sent());
  fmt::print(out, "total sent to connected peers: {} bytes\n", total);
  std::fflush(out);
}

}  // namespace nahanni::ivshmem
