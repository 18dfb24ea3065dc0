// Backend "uio": INTx through uio_pci_generic. The driver's handler masks INTx (Command bit
// 10) when the device's Status bit 3 says it interrupted; writing 1 to /dev/uioN unmasks it,
// and a read returns the interrupt count. The device's IntrStatus (read-to-clear) must be
// read before unmasking, or the still-raised line interrupts again at once.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "interrupt-backend.h"
#include "util/fd.h"

namespace nahanni::guest {

namespace {

class UioBackend final : public InterruptBackend {
 public:
  UioBackend(IvshmemDevice& dev, UniqueFd fd) : dev_(dev), fd_(std::move(fd)) {
    dev_.registers().set_intr_mask(1);  // let a ring raise INTx
  }
  std::string_view name() const override { return "uio"; }

  Result<uint32_t> wait(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (dev_.registers().take_intr_status() & 1) return 1u;
      int32_t enable = 1;
      if (::write(fd_.get(), &enable, sizeof(enable)) != sizeof(enable))
        return Error::format("cannot re-enable interrupts on the uio device: {}", std::strerror(errno));
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) return 0u;
      pollfd p{fd_.get(), POLLIN, 0};
      int n = ::poll(&p, 1, static_cast<int>(left.count()));
      if (n < 0 && errno != EINTR) return Error::format("poll on the uio device failed: {}", std::strerror(errno));
      if (n > 0) {
        uint32_t count = 0;
        if (::read(fd_.get(), &count, sizeof(count)) != sizeof(count))
          return Error::format("cannot read the uio device: {}", std::strerror(errno));
      }
      // Loop: IntrStatus tells whether it was us (and acknowledges it).
    }
  }

 private:
  IvshmemDevice& dev_;
  UniqueFd fd_;
};

}  // namespace

Result<std::unique_ptr<InterruptBackend>> make_uio_backend(IvshmemDevice& dev) {
  const auto& fn = dev.function();
  if (!dev.identity().intx)
    return Error::format("{} has no interrupt pin, so uio_pci_generic cannot deliver its interrupts "
                         "(QEMU's ivshmem-doorbell has MSI-X only: use --backend msix-poll or the kernel module)",
                         fn.bdf);
  NN_ASSIGN_OR_RETURN(std::string node, uio_device_of(fn));
  UniqueFd fd(::open(node.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return Error::format("cannot open {}: {}", node, std::strerror(errno));
  return std::unique_ptr<InterruptBackend>(std::make_unique<UioBackend>(dev, std::move(fd)));
}

}  // namespace nahanni::guest
