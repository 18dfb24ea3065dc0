#include "interrupt-backend.h"

namespace nahanni::guest {

const std::vector<std::string_view>& interrupt_backend_names() {
  static const std::vector<std::string_view> names{"auto", "kmod", "uio", "poll", "msix-poll"};
  return names;
}

Result<std::unique_ptr<InterruptBackend>> open_interrupt_backend(IvshmemDevice& dev, std::string_view name) {
  const auto& id = dev.identity();
  if (!dev.has_doorbell())
    return Error::format("{} is an ivshmem-plain device: it has no doorbell and no interrupts", dev.function().bdf);
  // With the kernel module bound, the kernel owns the BARs: only its node can deliver rings.
  if (dev.kmod() && name != "auto" && name != "kmod")
    return Error::format("{} is bound to {}, so backend '{}' cannot reach the device (use kmod, or unbind the module)",
                         dev.function().bdf, kKmodDriverName, name);
  if (name == "kmod") return make_kmod_backend(dev);
  if (name == "auto") {
    if (dev.kmod()) return make_kmod_backend(dev);
    if (id.intx && dev.function().driver == "uio_pci_generic") return make_uio_backend(dev);
    // A revision-2 device latches rings whatever the driver: no binding needed.
    if (id.revision >= 2 && (dev.features() & IvshmemRegisters::kFeaturePolling))
      return make_poll_backend(dev);
    if (id.msix) return make_msix_poll_backend(dev);
    if (id.intx) return make_uio_backend(dev);  // says how to bind it
    return Error::format("{}: no way to receive interrupts (no pin, no MSI-X, no polling register)",
                         dev.function().bdf);
  }
  if (name == "uio") return make_uio_backend(dev);
  if (name == "msix-poll") return make_msix_poll_backend(dev);
  if (name == "poll") {
    if (id.revision < 2 || !(dev.features() & IvshmemRegisters::kFeaturePolling))
      return Error::format("{}: backend 'poll' needs a nahanni revision-2 doorbell (this is revision {})",
                           dev.function().bdf, id.revision);
    return make_poll_backend(dev);
  }
  return Error::format("unknown interrupt backend '{}' (kmod, uio, poll, msix-poll or auto)", name);
}

}  // namespace nahanni::guest
