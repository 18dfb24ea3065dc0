#include "client.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "util/log.h"
#include "util/socket.h"

namespace nahanni::ivshmem {

Result<std::unique_ptr<IvshmemClient>> IvshmemClient::connect(EventLoop& loop, const std::string& path,
                                                              Callbacks callbacks, bool verbose) {
  NN_ASSIGN_OR_RETURN(UniqueFd sock, unix_connect(path));
  set_nonblocking(sock.get(), true);
  return std::make_unique<IvshmemClient>(loop, std::move(sock), std::move(callbacks), verbose);
}

IvshmemClient::IvshmemClient(EventLoop& loop, UniqueFd sock, Callbacks callbacks, bool verbose)
    : loop_(loop), sock_(std::move(sock)), callbacks_(std::move(callbacks)), verbose_(verbose) {
  sock_watch_ = loop_.watch_fd(sock_.get(), EventLoop::kReadable, [this](uint32_t ev) { on_socket(ev); });
}

unsigned IvshmemClient::vectors_of(uint16_t peer) const {
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : static_cast<unsigned>(it->second.size());
}

std::vector<uint16_t> IvshmemClient::peer_ids() const {
  std::vector<uint16_t> ids;
  for (const auto& [id, fds] : peers_) ids.push_back(id);
  return ids;
}

void IvshmemClient::fatal(Error error) {
  if (failed_) return;
  failed_ = true;
  sock_watch_.reset();
  if (callbacks_.on_fatal) callbacks_.on_fatal(error);
}

void IvshmemClient::on_socket(uint32_t) {
  bool changed = false;
  std::byte buf[512];
  while (!failed_) {
    std::vector<UniqueFd> fds;
    ssize_t n = recv_with_fds(sock_.get(), buf, fds, 4);
    if (n == 0) return fatal(Error("server disconnected"));
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return fatal(Error::format("read from server failed: {}", std::strerror(errno)));
    }
    if (auto st = reader_.feed(std::span<const std::byte>(buf, static_cast<size_t>(n)), std::move(fds)); !st)
      return fatal(std::move(st).error());
    while (auto msg = reader_.next()) {
      auto event = session_.handle(std::move(*msg));
      if (!event) {
        if (session_.state() == ClientSession::State::kFailed) return fatal(std::move(event).error());
        log::error(event.error());  // one bad message after setup: report it and go on, as QEMU does
        continue;
      }
      if (auto st = apply(std::move(*event)); !st) return fatal(std::move(st).error());
      changed = true;
    }
  }
  // The greeting is sent in one go: once the socket is drained after our own vectors, setup is done.
  if (!ready_ && session_.ready() && !own_.empty() && reader_.partial_bytes() == 0) {
    ready_ = true;
    if (verbose_) log::infof("connected as peer {} with {} vectors", own_id(), own_.size());
  }
  if (changed && ready_ && callbacks_.on_change) callbacks_.on_change();
}

Status IvshmemClient::apply(Event event) {
  switch (event.kind) {
    case Event::Kind::kVersion:
    case Event::Kind::kOwnId:
      break;
    case Event::Kind::kSharedMemory: {
      struct stat st{};
      if (::fstat(event.fd.get(), &st) < 0)
        return Error::format("can't determine size of shared memory sent by server: {}", std::strerror(errno));
      if (verbose_) log::infof("shared memory of {} bytes", st.st_size);
      shared_memory_ = std::move(event.fd);
      break;
    }
    case Event::Kind::kPeerVector:
      if (verbose_) log::infof("peer {} vector {} connected", event.peer, event.vector);
      peers_[event.peer].push_back(std::move(event.fd));
      break;
    case Event::Kind::kOwnVector: {
      auto own = std::make_unique<OwnVector>();
      own->fd = std::move(event.fd);
      unsigned vector = event.vector;
      own->watch = loop_.watch_fd(own->fd.get(), EventLoop::kReadable, [this, vector](uint32_t) { on_own_vector(vector); });
      own_.push_back(std::move(own));
      break;
    }
    case Event::Kind::kPeerGone:
      if (verbose_) log::infof("peer {} left", event.peer);
      peers_.erase(event.peer);
      break;
  }
  return {};
}

void IvshmemClient::on_own_vector(unsigned vector) {
  uint64_t count = 0;
  if (::read(own_[vector]->fd.get(), &count, sizeof count) != sizeof count) return;  // spurious wakeup
  if (callbacks_.on_notification) callbacks_.on_notification(vector, count);
}

Status IvshmemClient::notify(uint16_t peer, unsigned vector) {
  auto it = peers_.find(peer);
  if (it == peers_.end()) return Error::format("peer {} is not connected", peer);
  if (vector >= it->second.size())
    return Error::format("peer {} has {} vectors, no vector {}", peer, it->second.size(), vector);
  uint64_t one = 1;
  if (::write(it->second[vector].get(), &one, sizeof one) != sizeof one)
    return Error::format("cannot notify peer {} vector {}: {}", peer, vector, std::strerror(errno));
  return {};
}

Status IvshmemClient::notify_peer_all(uint16_t peer) {
  unsigned n = vectors_of(peer);
  if (n == 0) return Error::format("peer {} is not connected", peer);
  for (unsigned v = 0; v < n; ++v) NN_TRY(notify(peer, v));
  return {};
}

Status IvshmemClient::notify_everyone() {
  for (const auto& [id, fds] : peers_)
    for (unsigned v = 0; v < fds.size(); ++v) NN_TRY(notify(id, v));
  return {};
}

Status IvshmemClient::request_vectors(unsigned n) {
  auto bytes = encode_message(n);
  if (send_with_fds(sock_.get(), bytes, {}) != static_cast<ssize_t>(bytes.size()))
    return Error::format("cannot send to server: {}", std::strerror(errno));
  return {};
}

void IvshmemClient::dump(std::FILE* out) const {
  fmt::print(out, "our id = {}\n", own_id());
  fmt::print(out, "  vectors: {}\n", own_.size());
  for (const auto& [id, fds] : peers_) fmt::print(out, "peer id = {}\n  vectors: {}\n", id, fds.size());
  std::fflush(out);
}

}  // namespace nahanni::ivshmem
