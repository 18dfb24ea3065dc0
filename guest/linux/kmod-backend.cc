// Backend "kmod": the nahanni_ivshmem kernel module delivers MSI-X vectors (or INTx) to
// /dev/ivshmemN, and IVSHMEM_IOC_WAIT blocks until one is rung: no polling, every vector
// told apart, for QEMU's doorbell as well as nahanni's.
#include "interrupt-backend.h"

namespace nahanni::guest {

namespace {

class KmodBackend final : public InterruptBackend {
 public:
  explicit KmodBackend(IvshmemDevice& dev) : dev_(dev) {}
  std::string_view name() const override { return "kmod"; }
  Result<uint32_t> wait(std::chrono::milliseconds timeout) override {
    NN_ASSIGN_OR_RETURN(uint64_t pending, dev_.kmod()->wait(timeout));
    // The interface has 32 vectors; a ring on a higher one still wakes the caller (as bit 31).
    return static_cast<uint32_t>(pending) | (pending >> 32 ? 1u << 31 : 0u);
  }

 private:
  IvshmemDevice& dev_;
};

}  // namespace

Result<std::unique_ptr<InterruptBackend>> make_kmod_backend(IvshmemDevice& dev) {
  const KmodNode* node = dev.kmod();
  if (!node)
    return Error::format("{} is not bound to {} (modprobe {}; driver now: {})", dev.function().bdf,
                         kKmodDriverName, kKmodDriverName,
                         dev.function().driver.empty() ? "none" : dev.function().driver);
  NN_ASSIGN_OR_RETURN(ivshmem_info info, node->info());
  if (info.vectors == 0) return Error::format("{}: the module has no interrupt vectors for this device", node->path());
  return std::unique_ptr<InterruptBackend>(std::make_unique<KmodBackend>(dev));
}

}  // namespace nahanni::guest
