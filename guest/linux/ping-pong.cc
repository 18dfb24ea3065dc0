#include "ping-pong.h"

#include <time.h>

#include "test-pattern.h"

namespace nahanni::guest {

namespace {

inline constexpr uint64_t kPongerId = 0, kPingerId = 4, kPingSeq = 8, kPongSeq = 12, kPayload = 64;

using Clock = std::chrono::steady_clock;

class Mailbox {
 public:
  Mailbox(IvshmemDevice& dev, uint64_t offset) : base_(dev.memory() + offset) {}
  volatile uint32_t& word(uint64_t off) { return *reinterpret_cast<volatile uint32_t*>(base_ + off); }
  volatile uint8_t* payload() { return base_ + kPayload; }

 private:
  uint8_t* base_;
};

void fence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

// Waits for a mailbox word that the other side writes without ringing (start-up only).
template <typename Pred>
bool poll_memory(Pred pred, std::chrono::milliseconds patience) {
  auto deadline = Clock::now() + patience;
  while (!pred()) {
    if (Clock::now() >= deadline) return false;
    timespec ts{0, 1000000};
    ::nanosleep(&ts, nullptr);
  }
  return true;
}

// Waits for rings until pred() holds.
template <typename Pred>
Result<bool> wait_for(InterruptBackend& backend, Pred pred, std::chrono::milliseconds patience) {
  auto deadline = Clock::now() + patience;
  for (;;) {
    fence();
    if (pred()) return true;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    NN_TRY(backend.wait(left));
  }
}

Status check_mailbox_fits(IvshmemDevice& dev, const PingOptions& o) {
  if (o.mailbox_offset % 4 != 0) return Error::format("mailbox offset {:#x} is not a multiple of 4", o.mailbox_offset);
  if (o.mailbox_offset + kPayload + o.payload > dev.memory_size())
    return Error::format("mailbox at {:#x} with {} payload bytes does not fit in {} bytes of shared memory",
                         o.mailbox_offset, o.payload, dev.memory_size());
  return {};
}

void record(PingStats& s, std::chrono::nanoseconds rtt) {
  if (s.rounds == 0 || rtt < s.min) s.min = rtt;
  if (rtt > s.max) s.max = rtt;
  s.total += rtt;
  ++s.rounds;
}

}  // namespace

Result<PingStats> run_ping(IvshmemDevice& dev, InterruptBackend& backend, const PingOptions& o) {
  PingStats stats;
  uint16_t self = static_cast<uint16_t>(dev.iv_position());
  if (o.echo_only) {
    if (!o.peer) return Error("ping --echo needs --peer: an echoing peer has no mailbox");
    // Drop rings left from before, so each round waits for its own answer.
    NN_TRY(backend.wait(std::chrono::milliseconds(0)));
    for (unsigned i = 0; i < o.count; ++i) {
      auto t0 = Clock::now();
      NN_TRY(dev.ring(*o.peer, o.vector));
      NN_ASSIGN_OR_RETURN(uint32_t got, backend.wait(o.patience));
      if (!got) return Error::format("peer {} did not ring back within {} s (round {})", *o.peer,
                                     o.patience.count() / 1000, i + 1);
      record(stats, Clock::now() - t0);
    }
    return stats;
  }
  NN_TRY(check_mailbox_fits(dev, o));
  Mailbox box(dev, o.mailbox_offset);
  box.word(kPingerId) = self + 1u;
  fence();
  if (!poll_memory([&] { return box.word(kPongerId) != 0; }, o.patience))
    return Error::format("no ponger appeared in the mailbox at {:#x} within {} s", o.mailbox_offset,
                         o.patience.count() / 1000);
  uint16_t peer = o.peer ? *o.peer : static_cast<uint16_t>(box.word(kPongerId) - 1);
  uint32_t seq = box.word(kPingSeq);
  for (unsigned i = 0; i < o.count; ++i) {
    ++seq;
    fill_pattern(box.payload(), o.payload, seq);
    fence();
    box.word(kPingSeq) = seq;
    fence();
    auto t0 = Clock::now();
    NN_TRY(dev.ring(peer, o.vector));
    NN_ASSIGN_OR_RETURN(bool answered, wait_for(backend, [&] { return box.word(kPongSeq) == seq; }, o.patience));
    if (!answered)
      return Error::format("peer {} did not answer ping {} within {} s", peer, seq, o.patience.count() / 1000);
    record(stats, Clock::now() - t0);
    if (auto bad = check_pattern(box.payload(), o.payload, ~uint64_t{seq}))
      return Error::format("pong {} carried a wrong payload byte at {:#x}", seq, o.mailbox_offset + kPayload + *bad);
  }
  return stats;
}

Result<unsigned> run_pong(IvshmemDevice& dev, InterruptBackend& backend, const PingOptions& o) {
  NN_TRY(check_mailbox_fits(dev, o));
  Mailbox box(dev, o.mailbox_offset);
  uint32_t last = box.word(kPingSeq);
  fence();
  box.word(kPongerId) = dev.iv_position() + 1u;  // ready: the backend is open
  fence();
  unsigned answered = 0;
  while (answered < o.count) {
    NN_ASSIGN_OR_RETURN(bool pinged, wait_for(backend, [&] { return box.word(kPingSeq) != last; }, o.patience));
    if (!pinged) return Error::format("no ping came within {} s ({} answered)", o.patience.count() / 1000, answered);
    uint32_t seq = box.word(kPingSeq);
    if (auto bad = check_pattern(box.payload(), o.payload, seq))
      return Error::format("ping {} carried a wrong payload byte at {:#x}", seq, o.mailbox_offset + kPayload + *bad);
    fill_pattern(box.payload(), o.payload, ~uint64_t{seq});
    fence();
    box.word(kPongSeq) = seq;
    fence();
    uint32_t pinger = box.word(kPingerId);
    if (pinger == 0) return Error("a ping came without the pinger's id in the mailbox");
    NN_TRY(dev.ring(static_cast<uint16_t>(pinger - 1), o.vector));
    last = seq;
    ++answered;
  }
  return answered;
}

}  // namespace nahanni::guest
