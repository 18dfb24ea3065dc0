// The qtest line protocol on a pc machine with the qtest accelerator: the server's line
// splitting, argument parsing and every command (ports, memory, base64, memset, clock, IRQ
// interception, MSI log) against the real address spaces and devices. Invariants:
//   - every non-blank request line gets exactly one reply line, "OK..." or "FAIL <reason>" (or
//     QEMU's "ERR invalid argument size" for short write data);
//     the only other lines are "IRQ raise|lower N" notifications;
//   - replies are single printable lines (a word quoted back cannot break the framing);
//   - "read" and "b64read" of the same range agree, and what "write" put in RAM reads back
//     (checked by the target itself after each input, on a scratch page of RAM).
#include <string>
#include <vector>

#include "fuzz-support.h"
#include "hw/core/irq.h"
#include "machine-fixture.h"
#include "system/memory.h"
#include "system/qtest-server.h"
#include "util/base64.h"

namespace nahanni {
namespace {

Machine* g_machine = nullptr;
constexpr uint64_t kRamSize = 32u << 20;

// Small limits keep one input cheap; the limit checks themselves are still reached.
constexpr QtestLimits kLimits{.max_line = 16384, .max_data = 4096};

// Non-blank request lines in `data` as the server splits them (blank: only spaces, tabs, "\r").
size_t count_requests(std::string_view data) {
  size_t n = 0;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    if (nl == std::string_view::npos) break;  // an unfinished line is never answered
    std::string_view line = data.substr(0, nl);
    bool overlong = line.size() > kLimits.max_line;  // judged before the "\r" goes
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (overlong || line.find_first_not_of(" \t") != std::string_view::npos) ++n;
    data.remove_prefix(nl + 1);
  }
  return n;
}

void stop_intercepts(Object& obj) {
  if (auto* inputs = dynamic_cast<IrqInputs*>(&obj)) inputs->intercept(nullptr);
  for (const auto& [name, child] : obj.children()) stop_intercepts(*child);
}

struct Session {
  std::string output;
  std::unique_ptr<QtestServer> server;

  Session() {
    auto created = QtestServer::create(qtest_default_target(), [this](std::string_view t) { output.append(t); },
                                       "none", kLimits);
    FUZZ_CHECK(created.ok());
    server = std::move(*created);
    server->opened();
  }
  // The reply lines to `request`, which must be a single line.
  std::vector<std::string> ask(std::string_view request) {
    output.clear();
    server->receive(request);
    std::vector<std::string> lines;
    size_t pos = 0, nl;
    while ((nl = output.find('\n', pos)) != std::string::npos) {
      lines.push_back(output.substr(pos, nl - pos));
      pos = nl + 1;
    }
    return lines;
  }
};

}  // namespace
}  // namespace nahanni

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  nahanni::g_machine = nahanni::fuzz::start_machine("pc", nahanni::kRamSize);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nahanni;
  std::string_view text = fuzz::as_text(data, size);
  {
    Session s;
    // Bytes arrive in pieces of varying length, as from a socket.
    size_t pos = 0, piece = 1;
    while (pos < size) {
      size_t n = std::min(piece, size - pos);
      s.server->receive(std::span(data + pos, n));
      pos += n;
      piece = piece * 3 % 61 + 1;
    }
    size_t replies = 0;
    size_t start = 0, nl;
    while ((nl = s.output.find('\n', start)) != std::string::npos) {
      std::string_view line(s.output.data() + start, nl - start);
      start = nl + 1;
      for (char c : line) FUZZ_CHECK(c >= 0x20 && c < 0x7f, line);
      if (line.starts_with("IRQ ")) {
        FUZZ_CHECK(line.starts_with("IRQ raise ") || line.starts_with("IRQ lower "), line);
        continue;
      }
      ++replies;
      FUZZ_CHECK(line == "OK" || line.starts_with("OK ") || (line.starts_with("FAIL ") && line.size() > 5) ||
                     line == "ERR invalid argument size",  // QEMU's one ERR reply, kept for compatibility
                 line);
    }
    FUZZ_CHECK(start == s.output.size(), "output ends without a newline");
    FUZZ_CHECK(replies == count_requests(text),
               fmt::format("{} replies for {} requests", replies, count_requests(text)));
  }

  // Devices (BARs the input may have moved over RAM, intercepted IRQs) back to their reset
  // state; RAM keeps what the input wrote.
  stop_intercepts(object_root());
  fuzz::remove_user_state(*g_machine);

  // The data commands agree with each other on RAM, whatever the input did before.
  {
    Session s;
    uint64_t scratch = 0x100000 + (size % 64) * 64;
    std::string hex;
    std::vector<uint8_t> bytes;
    for (size_t i = 0; i < 16; ++i) {
      uint8_t b = i < size ? data[i] : static_cast<uint8_t>(i);
      bytes.push_back(b);
      hex += fmt::format("{:02x}", b);
    }
    auto w = s.ask(fmt::format("write 0x{:x} 16 0x{}\n", scratch, hex));
    FUZZ_CHECK(w.size() == 1 && w[0] == "OK", w.empty() ? "" : w[0]);
    auto r = s.ask(fmt::format("read 0x{:x} 16\n", scratch));
    FUZZ_CHECK(r.size() == 1 && r[0] == "OK 0x" + hex, r.empty() ? "" : r[0]);
    auto b = s.ask(fmt::format("b64read 0x{:x} 16\n", scratch));
    FUZZ_CHECK(b.size() == 1 && b[0] == "OK " + base64_encode(bytes), b.empty() ? "" : b[0]);
  }

  return 0;
}
