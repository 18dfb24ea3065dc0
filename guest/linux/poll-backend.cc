// Backend "poll": nahanni revision-2 devices latch rung vectors in RungVectors (read-to-clear).
#include <time.h>

#include "interrupt-backend.h"

namespace nahanni::guest {

namespace {

// How often a polling backend looks; the cost of a look is one MMIO read.
inline constexpr auto kPollInterval = std::chrono::microseconds(200);

class PollBackend final : public InterruptBackend {
 public:
  explicit PollBackend(IvshmemDevice& dev) : dev_(dev) {}
  std::string_view name() const override { return "poll"; }
  Result<uint32_t> wait(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (uint32_t v = dev_.registers().take_rung_vectors()) return v;
      if (std::chrono::steady_clock::now() >= deadline) return 0u;
      timespec ts{0, std::chrono::nanoseconds(kPollInterval).count()};
      ::nanosleep(&ts, nullptr);
    }
  }

 private:
  IvshmemDevice& dev_;
};

}  // namespace

std::unique_ptr<InterruptBackend> make_poll_backend(IvshmemDevice& dev) { return std::make_unique<PollBackend>(dev); }

}  // namespace nahanni::guest
