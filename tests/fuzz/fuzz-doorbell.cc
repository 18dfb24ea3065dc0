// The doorbell device's side of the ivshmem server protocol (contrib/ivshmem-protocol's
// MessageReader and ClientSession behind hw/misc/ivshmem-server-link.cc): a real
// ivshmem-doorbell device on the pc machine is realized against a scripted chardev that plays
// the server, with real descriptors attached to the messages (eventfds, memfds of various sizes,
// two at once), first through the realize-time handshake, then through the attached link.
//
// Input: byte 0 picks the device (vectors 1..8, msi on/off, size=64K or none); then chunks, each
// a control byte (bits 0-1: no fd, an eventfd, a memfd, or an eventfd and a memfd together;
// bits 2-6: payload length 0..31; bit 7: the memfd's size comes from the next byte) followed
// by its payload. A chunk is one recvmsg: its fds belong to the message holding its last byte.
// Invariants:
//   - realize either succeeds or fails with a message;
//   - while the device is realized, the link's count of held descriptors moves exactly as the
//     process's open descriptors do (no fd kept outside its tables, none double counted), and
//     its per-peer vectors never exceed the device's vectors;
//   - after the device and chardev are removed, the process has exactly the descriptors it had
//     before the input (every fd handed in was kept and released, or closed).
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <deque>
#include <optional>

#include "fuzz-support.h"
#include "hw/misc/ivshmem-common.h"
#include "hw/misc/ivshmem-server-link.h"
#include "machine-fixture.h"
#include "util/fd.h"
#include "util/keyval.h"

namespace nahanni {
namespace {

Machine* g_machine = nullptr;

struct Chunk {
  std::vector<uint8_t> bytes;
  std::vector<UniqueFd> fds;
};

UniqueFd make_memfd(uint64_t size) {
  UniqueFd fd(::memfd_create("fuzz-doorbell", MFD_CLOEXEC));
  FUZZ_CHECK(fd.valid() && ::ftruncate(fd.get(), static_cast<off_t>(size)) == 0);
  return fd;
}

UniqueFd make_eventfd() {
  UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  FUZZ_CHECK(fd.valid());
  return fd;
}

// Sizes a server might send: powers of two (the usual), zero, and ones no BAR can have.
uint64_t memfd_size(uint8_t b) {
  static constexpr uint64_t kSizes[] = {4096, 65536, 1 << 20, 0, 3000, 8192, 65536 + 4096, 2 << 20};
  return kSizes[b % 8];
}

// The server's side of the connection, as a chardev: read_blocking serves the handshake, the
// rest is delivered once the device's link is attached.
class ScriptChardev final : public Chardev {
 public:
  using Chardev::write_all;
  bool write_all(std::span<const uint8_t>) override { return true; }
  bool connected() const override { return connected_; }
  bool supports_fd_passing() const override { return true; }
  Status complete() override { return {}; }

  Result<size_t> read_blocking(std::span<uint8_t> buf, std::vector<UniqueFd>& fds,
                               std::chrono::milliseconds) override {
    if (attached()) return Error::format("Chardev '{}' is busy", name());
    if (script.empty()) {
      connected_ = false;
      return size_t{0};  // the server hung up
    }
    Chunk& c = script.front();
    FUZZ_CHECK(c.bytes.size() <= buf.size());
    std::copy(c.bytes.begin(), c.bytes.end(), buf.begin());
    size_t n = c.bytes.size();
    bytes_sent += n;
    for (auto& fd : c.fds) fds.push_back(std::move(fd));
    script.pop_front();
    if (n == 0) {
      // A recvmsg never returns 0 bytes with descriptors: that is end of stream.
      connected_ = false;
      fds.clear();
    }
    return n;
  }

  // Hands the rest of the script to the attached frontend; fds it does not take are closed,
  // as the socket backend does.
  template <typename Check>
  void deliver_script(Check&& check) {
    while (!script.empty() && connected_) {
      Chunk c = std::move(script.front());
      script.pop_front();
      if (c.bytes.empty()) {
        connected_ = false;
        deliver_event(ChardevEvent::Closed);
        break;
      }
      bytes_sent += c.bytes.size();
      deliver(c.bytes, c.fds);
      c.fds.clear();
      check();
    }
  }

  std::deque<Chunk> script;
  uint64_t bytes_sent = 0;  // the stream so far: mid-message, the reader holds the message's fd

 private:
  bool connected_ = true;
};

const TypeRegistration kScriptType{TypeInfo{.name = "chardev-fuzz-script",
                                            .parent = "chardev",  // kChardevType, internal to chardev/
                                            .factory = make_factory<ScriptChardev>(),
                                            .user_creatable = false}};

std::deque<Chunk> read_script(fuzz::InputReader& in) {
  std::deque<Chunk> script;
  // A server sends at most a few dozen messages per peer; the bound keeps an input's
  // descriptors well under the process's limit.
  constexpr size_t kMaxChunks = 96;
  while (!in.empty() && script.size() < kMaxChunks) {
    uint8_t control = in.byte();
    Chunk c;
    unsigned fd_kind = control & 3;
    size_t len = (control >> 2) & 31;
    uint64_t size = (control & 0x80) ? memfd_size(in.byte()) : 4096;
    auto payload = in.bytes(len);
    c.bytes.assign(payload.begin(), payload.end());
    if (fd_kind == 1 || fd_kind == 3) c.fds.push_back(make_eventfd());
    if (fd_kind == 2 || fd_kind == 3) c.fds.push_back(make_memfd(size));
    script.push_back(std::move(c));
  }
  return script;
}

}  // namespace
}  // namespace nahanni

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nahanni::g_machine = nahanni::fuzz::start_machine("pc", 64u << 20);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nahanni;
  const int fds_before = count_open_fds();
  {
    fuzz::InputReader in(data, size);
    uint8_t config = in.byte();
    unsigned vectors = 1 + (config & 7);
    bool msi = (config & 8) == 0;
    bool sized = (config & 16) != 0;

    auto obj = TypeRegistry::instance().create("chardev-fuzz-script");
    auto* chr = static_cast<ScriptChardev*>(obj.get());
    object_root().container("chardevs")->add_child("fz", std::move(obj));
    chr->script = read_script(in);

    std::string spec = fmt::format("ivshmem-doorbell,id=db,chardev=fz,vectors={},msi={},ioeventfd={}{}", vectors,
                                   msi ? "on" : "off", msi ? "on" : "off", sized ? ",size=64K" : "");
    auto opts = parse_keyval(spec, "driver");
    FUZZ_CHECK(opts.ok());
    auto dev = device_add(std::move(*opts), OptionSource::CommandLine, false);
    if (!dev) {
      FUZZ_CHECK(!dev.error().message().empty());
    } else {
      auto* common = dynamic_cast<IvshmemCommon*>(*dev);
      FUZZ_CHECK(common && common->server_link());
      IvshmemServerLink& link = *common->server_link();
      // Descriptors the process holds besides the link's: the device's own (shared memory,
      // ioeventfds) and whatever the script still has queued.
      auto outside_link = [&] {
        int queued = 0;
        for (const Chunk& c : chr->script) queued += static_cast<int>(c.fds.size());
        return count_open_fds() - static_cast<int>(link.open_fds()) - queued;
      };
      // Taken at the first point between two messages (the handshake may end inside one).
      std::optional<int> expected_outside;
      auto check = [&] {
        // Between messages every descriptor is in the link's tables or closed; inside one, the
        // reader holds the descriptor that came with the message's first part.
        bool mid_message = chr->bytes_sent % ivshmem::kMessageSize != 0;
        if (!expected_outside && !mid_message) expected_outside = outside_link();
        if (expected_outside) {
          int held_by_reader = outside_link() - *expected_outside;
          FUZZ_CHECK(held_by_reader == 0 || (mid_message && held_by_reader == 1),
                     fmt::format("descriptors outside the link: {} then {} ({} bytes sent)", *expected_outside,
                                 outside_link(), chr->bytes_sent));
        }
        FUZZ_CHECK(link.own_vectors() <= vectors);
        for (uint32_t peer = 0; peer < 4; ++peer) FUZZ_CHECK(link.peer_vectors(peer) <= vectors);
        nlohmann::json status;
        link.status(status);
        FUZZ_CHECK(status["vectors"] == vectors);
      };
      check();
      chr->deliver_script(check);
      // The doorbell register on every peer and vector the fuzzer may have announced.
      for (uint32_t peer = 0; peer < 4; ++peer)
        for (uint32_t v = 0; v <= vectors; ++v) link.ring(peer, v);
      check();
    }
    chr->script.clear();
    fuzz::remove_user_state(*g_machine);
  }
  const int fds_after = count_open_fds();
  FUZZ_CHECK(fds_after == fds_before, fmt::format("{} descriptors before, {} after", fds_before, fds_after));
  return 0;
}
