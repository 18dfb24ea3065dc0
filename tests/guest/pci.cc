#include "pci.h"

#include "io.h"

namespace nahanni::guest {
namespace {

constexpr uint16_t kConfigAddress = 0xcf8, kConfigData = 0xcfc;

uint32_t config_address(PciAddress a, uint8_t offset) {
  return 0x80000000u | (uint32_t{a.bus} << 16) | (uint32_t{a.device} << 11) |
         (uint32_t{a.function} << 8) | (offset & 0xfc);
}

}  // namespace

uint32_t pci_read32(PciAddress a, uint8_t offset) {
  outl(kConfigAddress, config_address(a, offset));
  return inl(kConfigData);
}
uint16_t pci_read16(PciAddress a, uint8_t offset) {
  return static_cast<uint16_t>(pci_read32(a, offset) >> ((offset & 2) * 8));
}
uint8_t pci_read8(PciAddress a, uint8_t offset) {
  return static_cast<uint8_t>(pci_read32(a, offset) >> ((offset & 3) * 8));
}
void pci_write32(PciAddress a, uint8_t offset, uint32_t v) {
  outl(kConfigAddress, config_address(a, offset));
  outl(kConfigData, v);
}
void pci_write16(PciAddress a, uint8_t offset, uint16_t v) {
  // Read-modify-write of the dword; only used on the command register and MSI-X control,
  // whose neighbours (status: write-1-to-clear bits) are written back as zero to clear nothing.
  uint32_t old = pci_read32(a, offset & 0xfc);
  unsigned shift = (offset & 2) * 8;
  uint32_t keep = (offset & 0xfc) == kPciCommand ? 0 : old & ~(0xffffu << shift);
  pci_write32(a, offset & 0xfc, keep | (uint32_t{v} << shift));
}

void pci_for_each_function(void (*visit)(PciAddress, void*), void* arg) {
  for (uint8_t dev = 0; dev < 32; ++dev) {
    PciAddress a{0, dev, 0};
    if (pci_read16(a, kPciVendorId) == 0xffff) continue;
    bool multi = pci_read8(a, kPciHeaderType) & 0x80;
    for (uint8_t fn = 0; fn < (multi ? 8 : 1); ++fn) {
      a.function = fn;
      if (pci_read16(a, kPciVendorId) != 0xffff) visit(a, arg);
    }
  }
}

PciBar pci_probe_bar(PciAddress a, int index) {
  uint8_t off = static_cast<uint8_t>(kPciBar0 + 4 * index);
  uint32_t low = pci_read32(a, off);
  PciBar bar;
  bar.is_io = low & 1;
  if (bar.is_io) {
    pci_write32(a, off, 0xffffffff);
    uint32_t mask = pci_read32(a, off) & ~3u;
    pci_write32(a, off, low);
    bar.address = low & ~3u;
    bar.size = mask ? (~mask + 1) & 0xffff : 0;
    return bar;
  }
  bar.is_64bit = ((low >> 1) & 3) == 2;
  bar.prefetchable = low & 8;
  uint32_t high = bar.is_64bit ? pci_read32(a, off + 4) : 0;
  pci_write32(a, off, 0xffffffff);
  if (bar.is_64bit) pci_write32(a, off + 4, 0xffffffff);
  uint64_t mask = pci_read32(a, off) & ~0xfu;
  if (bar.is_64bit) mask |= uint64_t{pci_read32(a, off + 4)} << 32;
  else mask |= 0xffffffff00000000ull;
  pci_write32(a, off, low);
  if (bar.is_64bit) pci_write32(a, off + 4, high);
  bar.address = (uint64_t{high} << 32) | (low & ~0xfu);
  // An unimplemented BAR reads back 0: no size, whatever the upper bits we filled in.
  bool implemented = bar.is_64bit ? (mask & ~0xfull) != 0 : (mask & 0xfffffff0u) != 0;
  bar.size = implemented ? ~(mask & ~0xfull) + 1 : 0;
  return bar;
}

void pci_set_bar(PciAddress a, int index, const PciBar& bar, uint64_t address) {
  uint8_t off = static_cast<uint8_t>(kPciBar0 + 4 * index);
  pci_write32(a, off, static_cast<uint32_t>(address));
  if (bar.is_64bit) pci_write32(a, off + 4, static_cast<uint32_t>(address >> 32));
}

uint8_t pci_find_capability(PciAddress a, uint8_t id) {
  if (!(pci_read16(a, kPciStatus) & kPciStatusCapabilities)) return 0;
  uint8_t ptr = pci_read8(a, kPciCapabilityPointer) & 0xfc;
  for (int hops = 0; ptr && hops < 48; ++hops) {
    if (pci_read8(a, ptr) == id) return ptr;
    ptr = pci_read8(a, ptr + 1) & 0xfc;
  }
  return 0;
}

bool pci_allocate(PciWindows& windows, const PciBar& bar, uint64_t* address) {
  uint64_t size = bar.size < 4096 ? 4096 : bar.size;  // keep every BAR on its own page
  if (bar.is_64bit) {
    uint64_t start = (windows.next64 + size - 1) & ~(size - 1);
    windows.next64 = start + size;
    *address = start;
    return true;
  }
  uint64_t start = (windows.next32 + size - 1) & ~(size - 1);
  if (start + size > windows.limit32) return false;
  windows.next32 = start + size;
  *address = start;
  return true;
}

}  // namespace nahanni::guest
