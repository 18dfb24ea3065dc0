// The shared wire-protocol module in-process: framing, descriptor ownership, the client-side
// state machine with QEMU's error texts, and the bounded server-side queue.
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <random>

#include "contrib/ivshmem-protocol/client-session.h"
#include "contrib/ivshmem-protocol/message-queue.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "util/fd.h"
#include "util/socket.h"

namespace nahanni::ivshmem {
namespace {

UniqueFd new_eventfd() { return UniqueFd(::eventfd(0, EFD_CLOEXEC)); }

std::vector<UniqueFd> one_fd() {
  std::vector<UniqueFd> v;
  v.push_back(new_eventfd());
  return v;
}

std::vector<std::byte> bytes_of(std::initializer_list<int64_t> values) {
  std::vector<std::byte> out;
  for (int64_t v : values) {
    auto b = encode_message(v);
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

Message msg(int64_t value, bool with_fd = false) { return Message{value, with_fd ? new_eventfd() : UniqueFd()}; }

TEST(IvshmemMessage, encodes_little_endian_int64) {
  auto b = encode_message(0x0102030405060708);
  EXPECT_EQ(b[0], std::byte{0x08});
  EXPECT_EQ(b[7], std::byte{0x01});
  auto m1 = encode_message(-1);
  for (auto x : m1) EXPECT_EQ(x, std::byte{0xff});
  EXPECT_EQ(decode_message(encode_message(-1)), -1);
  EXPECT_EQ(decode_message(encode_message(65535)), 65535);
  EXPECT_EQ(decode_message(encode_message(INT64_MIN)), INT64_MIN);
}

TEST(IvshmemMessageReader, reassembles_messages_fed_byte_by_byte) {
  MessageReader reader;
  auto data = bytes_of({0, 7, -1});
  for (size_t i = 0; i < data.size(); ++i) {
    // The descriptor arrives with the last byte of the third message.
    std::vector<UniqueFd> fds;
    if (i == data.size() - 1) fds = one_fd();
    ASSERT_TRUE(reader.feed(std::span(data).subspan(i, 1), std::move(fds)).ok());
  }
  auto a = reader.next(), b = reader.next(), c = reader.next();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->value, 0);
  EXPECT_FALSE(a->fd.valid());
  EXPECT_EQ(b->value, 7);
  EXPECT_FALSE(b->fd.valid());
  EXPECT_EQ(c->value, -1);
  EXPECT_TRUE(c->fd.valid());
  EXPECT_FALSE(reader.next());
}

TEST(IvshmemMessageReader, gives_a_chunks_fd_to_the_message_holding_its_last_byte) {
  MessageReader reader;
  auto data = bytes_of({3, 4});
  ASSERT_TRUE(reader.feed(data, one_fd()).ok());
  auto a = reader.next(), b = reader.next();
  EXPECT_FALSE(a->fd.valid());
  EXPECT_TRUE(b->fd.valid());
  // A chunk ending inside a message: its fd waits for that message to complete.
  auto more = bytes_of({5});
  ASSERT_TRUE(reader.feed(std::span(more).first(3), one_fd()).ok());
  EXPECT_FALSE(reader.next());
  EXPECT_EQ(reader.partial_bytes(), 3u);
  ASSERT_TRUE(reader.feed(std::span(more).subspan(3)).ok());
  auto c = reader.next();
  ASSERT_TRUE(c);
  EXPECT_EQ(c->value, 5);
  EXPECT_TRUE(c->fd.valid());
}

TEST(IvshmemMessageReader, rejects_two_fds_for_one_message_without_leaking) {
  int base = count_open_fds();
  {
    MessageReader reader;
    std::vector<UniqueFd> fds;
    fds.push_back(new_eventfd());
    fds.push_back(new_eventfd());
    auto st = reader.feed(bytes_of({1}), std::move(fds));
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message(), "server sent 2 file descriptors with one message");
    EXPECT_TRUE(reader.failed());
    EXPECT_EQ(reader.feed(bytes_of({1})).error().message(), "connection to server already failed");
  }
  {
    MessageReader reader;
    auto data = bytes_of({1});
    ASSERT_TRUE(reader.feed(std::span(data).first(4), one_fd()).ok());
    auto st = reader.feed(std::span(data).subspan(4), one_fd());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message(), "server sent more than one file descriptor with one message");
  }
  {
    MessageReader reader;
    auto st = reader.feed({}, one_fd());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().message(), "server sent file descriptors without a message");
  }
  EXPECT_EQ(count_open_fds(), base);
}

TEST(IvshmemClientSession, follows_the_setup_sequence_and_later_messages) {
  ClientSession s;
  auto version = s.handle(msg(0));
  ASSERT_TRUE(version.ok());
  EXPECT_EQ(version->kind, Event::Kind::kVersion);
  auto id = s.handle(msg(3));
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->kind, Event::Kind::kOwnId);
  EXPECT_EQ(id->peer, 3);
  EXPECT_EQ(s.own_id(), 3);
  auto shm = s.handle(msg(-1, true));
  ASSERT_TRUE(shm.ok());
  EXPECT_EQ(shm->kind, Event::Kind::kSharedMemory);
  EXPECT_TRUE(shm->fd.valid());
  EXPECT_TRUE(s.ready());
  for (unsigned v = 0; v < 2; ++v) {
    auto e = s.handle(msg(1, true));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->kind, Event::Kind::kPeerVector);
    EXPECT_EQ(e->peer, 1);
    EXPECT_EQ(e->vector, v);
  }
  for (unsigned v = 0; v < 2; ++v) {
    auto e = s.handle(msg(3, true));
    ASSERT_TRUE(e.ok());
    EXPECT_EQ(e->kind, Event::Kind::kOwnVector);
    EXPECT_EQ(e->vector, v);
  }
  EXPECT_EQ(s.vectors_of(1), 2u);
  auto gone = s.handle(msg(1));
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->kind, Event::Kind::kPeerGone);
  EXPECT_EQ(gone->peer, 1);
  EXPECT_EQ(s.vectors_of(1), 0u);
  // The id may come back as a new peer, counting its vectors from 0 again.
  auto again = s.handle(msg(1, true));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->vector, 0u);
}

std::string setup_error(std::vector<Message> messages) {
  ClientSession s;
  for (auto& m : messages) {
    auto r = s.handle(std::move(m));
    if (!r) {
      EXPECT_EQ(s.state(), ClientSession::State::kFailed);
      return r.error().message();
    }
  }
  return "";
}

template <typename... M>
std::vector<Message> seq(M&&... m) {
  std::vector<Message> v;
  (v.push_back(std::forward<M>(m)), ...);
  return v;
}

TEST(IvshmemClientSession, rejects_bad_setup_with_qemus_messages) {
  int base = count_open_fds();
  EXPECT_EQ(setup_error(seq(msg(1))), "server sent version 1, expecting 0");
  EXPECT_EQ(setup_error(seq(msg(0, true))), "server sent invalid version message");
  EXPECT_EQ(setup_error(seq(msg(0), msg(70000))), "server sent invalid ID message");
  EXPECT_EQ(setup_error(seq(msg(0), msg(-1, true))), "server sent invalid ID message");
  EXPECT_EQ(setup_error(seq(msg(0), msg(2, true))), "server sent invalid ID message");
  EXPECT_EQ(setup_error(seq(msg(0), msg(2), msg(-1))), "server didn't provide fd with shared memory message");
  EXPECT_EQ(setup_error(seq(msg(0), msg(2), msg(70000, true))), "server sent invalid message 70000");
  EXPECT_EQ(setup_error(seq(msg(0), msg(2), msg(1, true))), "server sent message 1 before the shared memory");
  EXPECT_EQ(count_open_fds(), base);
}

TEST(IvshmemClientSession, reports_bad_messages_after_setup_and_goes_on) {
  int base = count_open_fds();
  {
    ClientSession s;
    ASSERT_TRUE(s.handle(msg(0)).ok());
    ASSERT_TRUE(s.handle(msg(0)).ok());
    ASSERT_TRUE(s.handle(msg(-1, true)).ok());
    EXPECT_EQ(s.handle(msg(70000, true)).error().message(), "server sent invalid message 70000");
    EXPECT_EQ(s.handle(msg(-2)).error().message(), "server sent invalid message -2");
    EXPECT_EQ(s.handle(msg(-1, true)).error().message(), "server sent unexpected shared memory message");
    EXPECT_EQ(s.handle(msg(5)).error().message(), "invalid peer 5");
    EXPECT_EQ(s.handle(msg(0)).error().message(), "invalid peer 0");
    EXPECT_TRUE(s.ready());
    EXPECT_TRUE(s.handle(msg(5, true)).ok());
  }
  EXPECT_EQ(count_open_fds(), base);
}

TEST(IvshmemProtocol, random_input_never_crashes_or_leaks) {
  int base = count_open_fds();
  std::mt19937 rng(12345);
  for (int round = 0; round < 2000; ++round) {
    MessageReader reader;
    ClientSession session;
    std::vector<Event> kept;
    for (int chunk = 0; chunk < 8; ++chunk) {
      std::vector<std::byte> data(rng() % 20);
      for (auto& b : data) {
        // Mostly small values so that some inputs get past the version and id checks.
        b = static_cast<std::byte>(rng() % 4 == 0 ? rng() % 256 : (rng() % 3 == 0 ? 0xff : 0));
      }
      std::vector<UniqueFd> fds;
      for (unsigned i = rng() % 3; i > 0 && rng() % 2; --i) fds.push_back(new_eventfd());
      if (!reader.feed(data, std::move(fds))) break;
      while (auto m = reader.next()) {
        auto e = session.handle(std::move(*m));
        if (e) kept.push_back(std::move(*e));
      }
    }
  }
  EXPECT_EQ(count_open_fds(), base);
}

struct SocketPair {
  SocketPair() {
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    server.reset(sv[0]);
    peer.reset(sv[1]);
    set_nonblocking(server.get(), true);
    set_nonblocking(peer.get(), true);
  }
  UniqueFd server, peer;
};

// Reads everything available on `sock` into events.
std::vector<Event> receive_all(int sock, MessageReader& reader, ClientSession& session) {
  std::vector<Event> events;
  std::byte buf[256];
  while (true) {
    std::vector<UniqueFd> fds;
    ssize_t n = recv_with_fds(sock, buf, fds);
    if (n <= 0) break;
    EXPECT_TRUE(reader.feed(std::span<const std::byte>(buf, static_cast<size_t>(n)), std::move(fds)).ok());
    while (auto m = reader.next()) {
      auto e = session.handle(std::move(*m));
      EXPECT_TRUE(e.ok()) << e.error().message();
      if (e) events.push_back(std::move(*e));
    }
  }
  return events;
}

TEST(IvshmemMessageQueue, greeting_arrives_in_protocol_order) {
  SocketPair sp;
  SharedFd shm = make_shared_fd(new_eventfd());
  std::vector<SharedFd> p1{make_shared_fd(new_eventfd()), make_shared_fd(new_eventfd())};
  std::vector<SharedFd> self{make_shared_fd(new_eventfd()), make_shared_fd(new_eventfd())};
  PeerVectors others[] = {{1, p1}};
  MessageQueue q(4);
  EXPECT_EQ(greeting_length(others, 2), 7u);
  EXPECT_FALSE(push_greeting(q, shm, others, {4, self}));
  EXPECT_TRUE(q.empty());
  q.raise_limit(3);
  ASSERT_TRUE(push_greeting(q, shm, others, {4, self}));
  EXPECT_EQ(q.flush(sp.server.get()), MessageQueue::FlushResult::kEmpty);
  EXPECT_EQ(q.bytes_sent(), 56u);

  MessageReader reader;
  ClientSession session;
  auto events = receive_all(sp.peer.get(), reader, session);
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].kind, Event::Kind::kVersion);
  EXPECT_EQ(events[1].kind, Event::Kind::kOwnId);
  EXPECT_EQ(events[1].peer, 4);
  EXPECT_EQ(events[2].kind, Event::Kind::kSharedMemory);
  EXPECT_EQ(events[3].kind, Event::Kind::kPeerVector);
  EXPECT_EQ(events[4].vector, 1u);
  EXPECT_EQ(events[5].kind, Event::Kind::kOwnVector);
  EXPECT_EQ(events[6].vector, 1u);
  // The descriptors are the very files the server holds: ringing one is seen on the other.
  uint64_t one = 1, got = 0;
  ASSERT_EQ(::write(events[4].fd.get(), &one, 8), 8);
  ASSERT_EQ(::read(p1[1]->get(), &got, 8), 8);
  EXPECT_EQ(got, 1u);
}

TEST(IvshmemMessageQueue, never_blocks_on_a_peer_that_does_not_read) {
  SocketPair sp;
  SharedFd fd = make_shared_fd(new_eventfd());
  MessageQueue q(100000);
  // Far more than a socket buffer holds: flush stops instead of blocking.
  size_t pushed = 0;
  while (pushed < 20000) {
    ASSERT_TRUE(q.push(7, fd));
    ++pushed;
  }
  EXPECT_EQ(q.flush(sp.server.get()), MessageQueue::FlushResult::kBlocked);
  EXPECT_GT(q.size(), 0u);
  EXPECT_EQ(q.messages_sent() + q.size(), pushed);
  MessageQueue small(2);
  EXPECT_TRUE(small.push(1));
  EXPECT_TRUE(small.push(2));
  EXPECT_FALSE(small.push(3));
  EXPECT_EQ(small.size(), 2u);
  sp.peer.reset();
  EXPECT_EQ(small.flush(sp.server.get()), MessageQueue::FlushResult::kError);
}

}  // namespace
}  // namespace nahanni::ivshmem
