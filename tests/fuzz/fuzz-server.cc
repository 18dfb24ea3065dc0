// contrib/ivshmem-server from the peers' side: what a peer can send it. In QEMU's protocol a
// peer sends nothing; nahanni's server reads one thing from peers, an 8-byte vector-count
// request (server.h), and must survive anything else (bytes in any split, descriptors, early
// hang-ups, peers that never read). Real sockets (an abstract unix address: nothing on disk)
// and a real event loop, in-process.
//
// Input: byte 0 configures the server (default vectors 1..4, max vectors 1..16, outbox bound
// 4..32 messages); then operations, each an op byte (bits 0-1: the peer, bits 2-4: what) and
// maybe a payload: connect, send bytes (bits 5-7 + 1 bytes), send bytes with an eventfd,
// read everything, close, shut down the writing half, let the server run.
// Invariants:
//   - what every peer receives is a valid protocol stream (a ClientSession accepts every
//     message: version 0, own id, the shared memory, then vectors and departures), with the
//     memfd the server was given as shared memory;
//   - a peer's valid request for N vectors is honoured (it holds max(default, N) own vectors
//     once it has read everything), an invalid one (N < 1 or N > max) or a descriptor gets it
//     dropped; two connected peers agree on each other's vector counts;
//   - no peer ever receives more vectors for anyone than the maximum;
//   - once every peer has gone and the server is destroyed, the process holds exactly the
//     descriptors it had before the input.
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>

#include "contrib/ivshmem-protocol/client-session.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "fuzz-support.h"
#include "server.h"
#include "util/log.h"
#include "util/socket.h"

namespace nahanni {
namespace {

using ivshmem::ClientSession;
using ivshmem::MessageReader;

constexpr size_t kPeers = 4;
constexpr uint64_t kShmSize = 64 * 1024;

sockaddr_un server_address() {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string name = fmt::format("nahanni-fuzz-server-{}", ::getpid());
  std::copy(name.begin(), name.end(), addr.sun_path + 1);  // sun_path[0] == 0: abstract
  return addr;
}
socklen_t address_length() {
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + fmt::format("nahanni-fuzz-server-{}", ::getpid()).size());
}

UniqueFd listen_socket() {
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr = server_address();
  FUZZ_CHECK(fd.valid());
  FUZZ_CHECK(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), address_length()) == 0, std::strerror(errno));
  FUZZ_CHECK(::listen(fd.get(), 16) == 0);
  return fd;
}

// One peer, as a QEMU doorbell device would see the server.
struct TestPeer {
  UniqueFd sock;
  MessageReader reader;
  ClientSession session;
  std::vector<uint8_t> sent;     // bytes of a request not yet complete
  unsigned wanted = 0;           // the largest valid request sent
  bool sent_invalid = false;     // an out-of-range request or a descriptor: must be dropped
  bool hung_up = false;          // the server closed the connection
  unsigned max_vectors = 0;

  bool connected() const { return sock.valid() && !hung_up; }

  void read_all() {
    if (!sock.valid() || hung_up) return;
    while (true) {
      std::array<std::byte, 64> buf;
      std::vector<UniqueFd> fds;
      ssize_t n = recv_with_fds(sock.get(), buf, fds);
      if (n < 0) {
        FUZZ_CHECK(errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNRESET, std::strerror(errno));
        if (errno == ECONNRESET) hung_up = true;
        return;
      }
      if (n == 0) {
        hung_up = true;
        return;
      }
      Status fed = reader.feed(std::span(buf.data(), static_cast<size_t>(n)), std::move(fds));
      FUZZ_CHECK(fed.ok(), fed.ok() ? "" : fed.error().message());
      while (auto message = reader.next()) {
        int64_t value = message->value;
        auto event = session.handle(std::move(*message));
        FUZZ_CHECK(event.ok(), fmt::format("server sent {}: {}", value, event.ok() ? "" : event.error().message()));
        if (event->kind == ivshmem::Event::Kind::kSharedMemory) {
          struct stat st{};
          FUZZ_CHECK(::fstat(event->fd.get(), &st) == 0 && static_cast<uint64_t>(st.st_size) == kShmSize);
        }
        if (event->kind == ivshmem::Event::Kind::kPeerVector || event->kind == ivshmem::Event::Kind::kOwnVector)
          FUZZ_CHECK(session.vectors_of(event->peer) <= max_vectors, fmt::format("peer {}", event->peer));
      }
    }
  }

  void send(std::span<const uint8_t> bytes, bool with_fd) {
    if (!sock.valid() || bytes.empty()) return;
    UniqueFd efd;
    std::vector<int> fds;
    if (with_fd) {
      efd.reset(::eventfd(0, EFD_CLOEXEC));
      fds.push_back(efd.get());
    }
    ssize_t n = send_with_fds(sock.get(), std::as_bytes(bytes), fds);
    if (n <= 0) return;  // the server is gone or the buffer is full: the request never left
    if (with_fd) sent_invalid = true;
    for (size_t i = 0; i < static_cast<size_t>(n); ++i) {
      sent.push_back(bytes[i]);
      if (sent.size() < 8) continue;
      int64_t value = 0;
      for (int b = 7; b >= 0; --b) value = value << 8 | sent[static_cast<size_t>(b)];
      sent.clear();
      if (sent_invalid) continue;  // dropped already: later bytes are never read
      if (value < 1 || value > static_cast<int64_t>(max_vectors)) sent_invalid = true;
      else wanted = std::max(wanted, static_cast<unsigned>(value));
    }
  }
};

}  // namespace
}  // namespace nahanni

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nahanni::log::set_program_name("ivshmem-server");
  nahanni::log::set_sink([](std::string_view) {});
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nahanni;
  const int fds_before = count_open_fds();
  {
    fuzz::InputReader in(data, size);
    uint8_t config_byte = in.byte();
    ivshmem::IvshmemServer::Config config;
    config.vectors = 1 + (config_byte & 3);
    config.max_vectors = std::max<unsigned>(config.vectors, 1 + ((config_byte >> 2) & 15));
    config.max_queue = 4 + 4 * ((config_byte >> 6) & 7);
    config.shm_size = nahanni::kShmSize;

    UniqueFd shm(::memfd_create("fuzz-server-shm", MFD_CLOEXEC));
    FUZZ_CHECK(shm.valid() && ::ftruncate(shm.get(), static_cast<off_t>(kShmSize)) == 0);
    EventLoop loop;
    auto server = std::make_unique<ivshmem::IvshmemServer>(loop, config, listen_socket(),
                                                          ivshmem::make_shared_fd(std::move(shm)));
    server->start();
    auto settle = [&] {
      for (int i = 0; i < 6; ++i) loop.run_once(std::chrono::milliseconds(0));
    };

    std::array<TestPeer, kPeers> peers;
    size_t ops = 0;
    while (!in.empty() && ops++ < 64) {
      uint8_t op = in.byte();
      TestPeer& p = peers[op & 3];
      switch ((op >> 2) & 7) {
        case 0:
        case 1: {  // connect (a closed peer slot connects again as a new peer)
          if (p.sock.valid()) break;
          p = TestPeer{};
          p.max_vectors = config.max_vectors;
          p.sock.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
          sockaddr_un addr = server_address();
          FUZZ_CHECK(::connect(p.sock.get(), reinterpret_cast<sockaddr*>(&addr), address_length()) == 0,
                     std::strerror(errno));
          settle();
          break;
        }
        case 2:
        case 3:
          p.send(in.bytes(1 + (op >> 5)), false);
          break;
        case 4:
          p.send(in.bytes(1 + (op >> 5)), true);
          break;
        case 5:
          settle();
          p.read_all();
          break;
        case 6:
          if (op & 0x80) ::shutdown(p.sock.get(), SHUT_WR);
          else p.sock.reset();
          break;
        default:
          settle();
          break;
      }
    }

    // Everything settles: each live peer reads all there is, then the checks on what it holds.
    for (int round = 0; round < 3; ++round) {
      settle();
      for (TestPeer& p : peers) p.read_all();
    }
    for (TestPeer& p : peers) {
      if (!p.sock.valid()) continue;
      if (p.sent_invalid) FUZZ_CHECK(p.hung_up, "a peer that sent an invalid request is still connected");
      if (!p.connected() || !p.session.ready()) continue;
      unsigned expected = std::max(config.vectors, p.wanted);
      FUZZ_CHECK(p.session.vectors_of(p.session.own_id()) == expected,
                 fmt::format("peer {} holds {} own vectors, expected {}", p.session.own_id(),
                             p.session.vectors_of(p.session.own_id()), expected));
      for (TestPeer& q : peers) {
        if (&q == &p || !q.connected() || !q.session.ready()) continue;
        // Each of two peers that both saw the other arrive agrees on its vectors.
        unsigned seen = p.session.vectors_of(q.session.own_id());
        if (seen) FUZZ_CHECK(seen == q.session.vectors_of(q.session.own_id()), "peers disagree on vectors");
      }
    }

    for (TestPeer& p : peers) p.sock.reset();
    for (int round = 0; round < 3 && server->peer_count() > 0; ++round) settle();
    FUZZ_CHECK(server->peer_count() == 0, fmt::format("{} peers left after all hung up", server->peer_count()));
  }
  const int fds_after = count_open_fds();
  FUZZ_CHECK(fds_after == fds_before, fmt::format("{} descriptors before, {} after", fds_before, fds_after));
  return 0;
}
