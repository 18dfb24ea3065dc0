#include "mptable.h"

namespace nahanni::guest {
namespace {

constexpr uint8_t kEntryProcessor = 0, kEntryBus = 1, kEntryIoApic = 2, kEntryIoInterrupt = 3;
constexpr uint8_t kIntTypeInt = 0;
constexpr uint8_t kAllIoApics = 0xff;
constexpr int kMaxIoApics = 8;

uint16_t read16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t read32(const uint8_t* p) { return read16(p) | (uint32_t{read16(p + 2)} << 16); }

bool same(const uint8_t* p, const char* text, int n) {
  for (int i = 0; i < n; ++i)
    if (p[i] != static_cast<uint8_t>(text[i])) return false;
  return true;
}

bool checksum_ok(const uint8_t* p, uint32_t n) {
  uint8_t sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return sum == 0;
}

// The floating pointer: on a 16-byte boundary in the last KiB of base memory or the BIOS area.
const uint8_t* find_floating_pointer() {
  const uint64_t ranges[][2] = {{0x9fc00, 0xa0000}, {0xf0000, 0x100000}};
  for (const auto& r : ranges)
    for (uint64_t a = r[0]; a < r[1]; a += 16) {
      auto* p = reinterpret_cast<const uint8_t*>(a);
      if (same(p, "_MP_", 4) && p[8] == 1 && checksum_ok(p, 16)) return p;
    }
  return nullptr;
}

}  // namespace

bool mp_find_intx_route(uint8_t device, uint8_t pin, IntxRoute* out) {
  const uint8_t* floating = find_floating_pointer();
  if (!floating || pin < 1 || pin > 4) return false;
  auto* table = reinterpret_cast<const uint8_t*>(static_cast<uint64_t>(read32(floating + 4)));
  if (!table || !same(table, "PCMP", 4) || !checksum_ok(table, read16(table + 4))) return false;
  const uint8_t* end = table + read16(table + 4);
  uint16_t count = read16(table + 34);
  // First pass: the PCI bus id and the IOAPICs' addresses.
  int pci_bus = -1;
  uint8_t ioapic_ids[kMaxIoApics];
  uint64_t ioapic_addresses[kMaxIoApics];
  int ioapics = 0;
  const uint8_t* e = table + 44;
  for (uint16_t i = 0; i < count && e < end; ++i) {
    if (e[0] == kEntryBus && same(e + 2, "PCI   ", 6)) pci_bus = e[1];
    if (e[0] == kEntryIoApic && ioapics < kMaxIoApics && (e[3] & 1)) {
      ioapic_ids[ioapics] = e[1];
      ioapic_addresses[ioapics++] = read32(e + 4);
    }
    e += e[0] == kEntryProcessor ? 20 : 8;
  }
  if (pci_bus < 0 || ioapics == 0) return false;
  // Second pass: the I/O interrupt entry for (device, pin) on that bus.
  uint8_t source = static_cast<uint8_t>((device << 2) | (pin - 1));
  e = table + 44;
  for (uint16_t i = 0; i < count && e < end; ++i) {
    if (e[0] == kEntryIoInterrupt && e[1] == kIntTypeInt && e[4] == pci_bus && e[5] == source) {
      uint16_t flags = read16(e + 2);
      for (int a = 0; a < ioapics; ++a) {
        if (e[6] != kAllIoApics && e[6] != ioapic_ids[a]) continue;
        out->ioapic = ioapic_addresses[a];
        out->input = e[7];
        out->active_low = (flags & 3) != 1;       // 01: active high; 00 (PCI's own) and 11: low
        out->level = ((flags >> 2) & 3) != 1;     // 01: edge; 00 (PCI's own) and 11: level
        return true;
      }
    }
    e += e[0] == kEntryProcessor ? 20 : 8;
  }
  return false;
}

}  // namespace nahanni::guest
