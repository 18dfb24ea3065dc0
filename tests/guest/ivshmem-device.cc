#include "ivshmem-device.h"

#include "console.h"
#include "exit-status.h"
#include "interrupts.h"
#include "io.h"
#include "paging.h"

namespace nahanni::guest {
namespace {

constexpr uint8_t kCapabilityMsix = 0x11;
constexpr uint16_t kMsixEnable = 1u << 15, kMsixFunctionMask = 1u << 14;
constexpr uint32_t kMsixEntrySize = 16;
constexpr uint32_t kMsixVectorMasked = 1;

struct FindState {
  IvshmemDevice* out;
  int max;
  int count;
};

void consider(PciAddress a, void* arg) {
  auto* state = static_cast<FindState*>(arg);
  uint16_t vendor = pci_read16(a, kPciVendorId), device = pci_read16(a, kPciDeviceId);
  if (vendor != kIvshmemVendor || (device != kIvshmemPlainId && device != kIvshmemDoorbellId)) return;
  if (state->count == state->max) return;
  IvshmemDevice& dev = state->out[state->count++];
  dev.pci = a;
  dev.device_id = device;
  dev.revision = pci_read8(a, kPciRevision);
}

void setup_msix(IvshmemDevice& dev) {
  uint8_t cap = pci_find_capability(dev.pci, kCapabilityMsix);
  if (!cap) return;  // ivshmem-plain, or a doorbell with msi=off
  uint16_t control = pci_read16(dev.pci, cap + 2);
  uint32_t table = pci_read32(dev.pci, cap + 4);
  int bir = table & 7;
  if (bir > 5 || !dev.bars[bir].size || dev.bars[bir].is_io)
    guest_exit(ExitStatus::kDeviceSetup, "MSI-X table in an unusable BAR");
  dev.msix_table = dev.bars[bir].address + (table & ~7u);
  dev.vectors = (control & 0x7ff) + 1u;
  if (dev.vectors > kMaxDeviceVectors) dev.vectors = kMaxDeviceVectors;
  // Function-mask while the entries change, then enable with every entry unmasked.
  pci_write16(dev.pci, cap + 2, static_cast<uint16_t>(control | kMsixEnable | kMsixFunctionMask));
  for (unsigned v = 0; v < dev.vectors; ++v) {
    uint64_t entry = dev.msix_table + v * kMsixEntrySize;
    mmio_write32(entry + 0, 0xfee00000u | (lapic_id() << 12));  // fixed, physical destination
    mmio_write32(entry + 4, 0);
    mmio_write32(entry + 8, kDeviceVectorBase + v);               // edge, fixed delivery
    mmio_write32(entry + 12, 0);
    if (mmio_read32(entry + 12) & kMsixVectorMasked)
      guest_exit(ExitStatus::kDeviceSetup, "MSI-X entry stays masked");
  }
  pci_write16(dev.pci, cap + 2, static_cast<uint16_t>((control | kMsixEnable) & ~kMsixFunctionMask));
}

}  // namespace

int find_ivshmem_devices(IvshmemDevice* out, int max) {
  FindState state{out, max, 0};
  pci_for_each_function(consider, &state);
  return state.count;
}

void setup_ivshmem_device(IvshmemDevice& dev, PciWindows& windows, bool reassign) {
  uint16_t command = pci_read16(dev.pci, kPciCommand);
  pci_write16(dev.pci, kPciCommand, static_cast<uint16_t>(command & ~kPciCommandMemory));
  for (int i = 0; i < 6; ++i) {
    PciBar& bar = dev.bars[i];
    bar = pci_probe_bar(dev.pci, i);
    int index = i;
    if (bar.is_64bit) dev.bars[++i] = PciBar{};  // the upper half of this BAR
    if (!bar.size || bar.is_io) continue;
    bool place = !bar.address || reassign;
    if (place) {
      uint64_t address;
      if (!pci_allocate(windows, bar, &address)) guest_exit(ExitStatus::kDeviceSetup, "no room for a 32-bit BAR");
      pci_set_bar(dev.pci, index, bar, address);
      bar.address = address;
    }
    print("guest: bar%d %x size %x%s%s\n", index, bar.address, bar.size, bar.is_64bit ? " 64-bit" : "",
          place ? " (placed by the guest)" : "");
  }
  const PciBar& regs = dev.bars[0];
  const PciBar& mem = dev.bars[2];
  if (!regs.size || regs.is_io) guest_exit(ExitStatus::kDeviceSetup, "BAR0 is not a memory BAR");
  if (!mem.size || mem.is_io) guest_exit(ExitStatus::kDeviceSetup, "BAR2 is not a memory BAR");
  dev.registers = regs.address;
  dev.shm = mem.address;
  dev.shm_size = mem.size;
  // Below 4 GiB the boot tables map everything; above, map what the device uses.
  for (int i = 0; i < 6; ++i) {
    const PciBar& bar = dev.bars[i];
    if (!bar.size || bar.is_io || bar.address + bar.size <= (4ull << 30)) continue;
    if (!identity_map(bar.address, bar.size, i != 2))
      guest_exit(ExitStatus::kDeviceSetup, "out of page tables for a BAR above 4 GiB");
  }
  pci_write16(dev.pci, kPciCommand,
              static_cast<uint16_t>(command | kPciCommandMemory | kPciCommandMaster));
  setup_msix(dev);
}

uint32_t ivshmem_read(const IvshmemDevice& dev, uint32_t reg) { return mmio_read32(dev.registers + reg); }
void ivshmem_write(const IvshmemDevice& dev, uint32_t reg, uint32_t v) {
  mmio_write32(dev.registers + reg, v);
}

}  // namespace nahanni::guest
