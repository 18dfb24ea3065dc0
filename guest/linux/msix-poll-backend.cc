// Backend "msix-poll": QEMU's revision-1 ivshmem-doorbell signals only through MSI-X (its
// interrupt pin is 0, and it drops rings while MSI-X is disabled). Without a kernel driver a
// guest can still see rings: enable MSI-X in config space with every vector masked, so the
// device sets the vector's bit in the Pending Bit Array instead of sending a message, and
// poll that array. A bit is cleared by unmasking its vector (the device then sends the
// pending message, which goes nowhere because Bus Master is off) and masking it again.
// The check of shared memory must follow the clear, so that a ring in between is not lost.
#include <time.h>

#include <cstring>

#include "interrupt-backend.h"

namespace nahanni::guest {

namespace {

inline constexpr unsigned kConfigCommand = 0x04;
inline constexpr uint16_t kCommandBusMaster = 1u << 2;
inline constexpr uint16_t kMsixEnable = 1u << 15, kMsixFunctionMask = 1u << 14, kMsixTableSizeMask = 0x7ff;
inline constexpr unsigned kMsixEntrySize = 16, kMsixEntryControl = 12;
inline constexpr uint32_t kMsixEntryMasked = 1;
inline constexpr auto kPollInterval = std::chrono::microseconds(200);

uint16_t le16(const std::vector<uint8_t>& c, unsigned off) { return static_cast<uint16_t>(c[off] | (c[off + 1] << 8)); }
uint32_t le32(const std::vector<uint8_t>& c, unsigned off) { return le16(c, off) | (uint32_t{le16(c, off + 2)} << 16); }

class MsixPollBackend final : public InterruptBackend {
 public:
  MsixPollBackend(MappedRegion table_bar, uint32_t table_offset, MappedRegion pba_bar, uint32_t pba_offset,
                  unsigned vectors)
      : table_bar_(std::move(table_bar)), pba_bar_(std::move(pba_bar)), table_offset_(table_offset),
        pba_offset_(pba_offset), vectors_(vectors) {}
  std::string_view name() const override { return "msix-poll"; }

  Result<uint32_t> wait(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    unsigned watched = vectors_ < 32 ? vectors_ : 32;
    uint32_t mask = watched == 32 ? ~0u : (1u << watched) - 1;
    for (;;) {
      uint32_t pending = pba() & mask;
      if (pending) {
        for (unsigned v = 0; v < watched; ++v) {
          if (pending & (1u << v)) {
            control(v) = 0;                 // unmask: the device clears the bit and sends nowhere
            control(v) = kMsixEntryMasked;  // and mask again, so the next ring latches
          }
        }
        return pending;
      }
      if (std::chrono::steady_clock::now() >= deadline) return 0u;
      timespec ts{0, std::chrono::nanoseconds(kPollInterval).count()};
      ::nanosleep(&ts, nullptr);
    }
  }

  void mask_all() {
    for (unsigned v = 0; v < vectors_; ++v) control(v) = kMsixEntryMasked;
  }

 private:
  volatile uint32_t& control(unsigned v) {
    return *reinterpret_cast<volatile uint32_t*>(table_bar_.data() + table_offset_ + v * kMsixEntrySize +
                                                 kMsixEntryControl);
  }
  uint32_t pba() { return *reinterpret_cast<volatile uint32_t*>(pba_bar_.data() + pba_offset_); }

  MappedRegion table_bar_, pba_bar_;
  uint32_t table_offset_, pba_offset_;
  unsigned vectors_;
};

}  // namespace

Result<std::unique_ptr<InterruptBackend>> make_msix_poll_backend(IvshmemDevice& dev) {
  const auto& fn = dev.function();
  if (!fn.msix_capability) return Error::format("{} has no MSI-X capability: backend 'msix-poll' cannot serve it", fn.bdf);
  NN_ASSIGN_OR_RETURN(std::vector<uint8_t> config, read_config(fn));
  unsigned cap = fn.msix_capability;
  if (config.size() < cap + 12u) return Error::format("{}: config space too short for MSI-X (not root?)", fn.bdf);
  if (!fn.driver.empty() && fn.driver != "uio_pci_generic")
    return Error::format("{} is driven by {}: backend 'msix-poll' would fight it", fn.bdf, fn.driver);
  uint16_t control = le16(config, cap + 2);
  uint32_t table = le32(config, cap + 4), pba = le32(config, cap + 8);
  unsigned vectors = (control & kMsixTableSizeMask) + 1u;
  int table_bir = static_cast<int>(table & 7), pba_bir = static_cast<int>(pba & 7);
  table &= ~7u;
  pba &= ~7u;
  const PciResource* table_res = fn.resource(table_bir);
  const PciResource* pba_res = fn.resource(pba_bir);
  if (!table_res || !pba_res) return Error::format("{}: the MSI-X BAR is not assigned", fn.bdf);
  if (table + vectors * kMsixEntrySize > table_res->size() || pba + 4 > pba_res->size())
    return Error::format("{}: MSI-X table or PBA lies outside its BAR", fn.bdf);
  NN_ASSIGN_OR_RETURN(MappedRegion table_map, MappedRegion::map_file(fn.resource_path(table_bir), table_res->size()));
  NN_ASSIGN_OR_RETURN(MappedRegion pba_map, MappedRegion::map_file(fn.resource_path(pba_bir), pba_res->size()));

  // Bus Master off: an unmasked vector's message must not reach memory or an APIC.
  uint16_t command = le16(config, kConfigCommand);
  if (command & kCommandBusMaster) {
    command &= static_cast<uint16_t>(~kCommandBusMaster);
    NN_TRY(write_config(fn, kConfigCommand, &command, sizeof(command)));
  }
  auto backend = std::make_unique<MsixPollBackend>(std::move(table_map), table, std::move(pba_map), pba, vectors);
  if (!(control & kMsixEnable) || (control & kMsixFunctionMask)) {
    // Mask each vector before enabling, then enable with the function mask off. MSI-X stays
    // enabled on exit, so rings between two runs latch too.
    backend->mask_all();
    control = static_cast<uint16_t>((control | kMsixEnable) & ~kMsixFunctionMask);
    NN_TRY(write_config(fn, cap + 2, &control, sizeof(control)));
  }
  return std::unique_ptr<InterruptBackend>(std::move(backend));
}

}  // namespace nahanni::guest
