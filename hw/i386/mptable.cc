#include "hw/i386/mptable.h"

#include <cstring>

#include "hw/i386/boot-image.h"
#include "hw/i386/pc.h"

namespace nahanni {

using namespace mptable;

namespace {

constexpr uint32_t kLocalApicBase = 0xfee00000;
constexpr uint8_t kSpecRevision = 4;  // MP spec 1.4
constexpr uint8_t kLocalApicVersion = 0x14;
constexpr uint8_t kIoApicVersion = 0x11;
constexpr uint8_t kCpuEnabled = 1, kCpuBootstrap = 2;
constexpr uint32_t kCpuSignature = 0x600;          // family 6
constexpr uint32_t kCpuFeatures = 0x201;           // FPU, APIC
constexpr uint8_t kAllLocalApics = 0xff;

uint8_t checksum(const uint8_t* p, size_t n) {
  uint8_t sum = 0;
  for (size_t i = 0; i < n; ++i) sum = static_cast<uint8_t>(sum + p[i]);
  return static_cast<uint8_t>(-sum);
}

class TableWriter {
 public:
  std::vector<uint8_t> bytes;
  uint16_t entries = 0;

  size_t append(size_t n) {
    size_t at = bytes.size();
    bytes.resize(at + n, 0);
    ++entries;
    return at;
  }
  void interrupt(uint8_t entry_type, uint8_t int_type, uint16_t flags, uint8_t bus, uint8_t bus_irq, uint8_t dest,
                 uint8_t dest_input) {
    size_t e = append(8);
    bytes[e] = entry_type;
    bytes[e + 1] = int_type;
    put_u16(bytes, e + 2, flags);
    bytes[e + 4] = bus;
    bytes[e + 5] = bus_irq;
    bytes[e + 6] = dest;
    bytes[e + 7] = dest_input;
  }
};

}  // namespace

std::vector<uint8_t> build_mptable(uint32_t addr, unsigned cpus) {
  if (cpus == 0) cpus = 1;
  const uint8_t ioapic_id = static_cast<uint8_t>(cpus);  // after the local APIC ids 0..cpus-1

  TableWriter t;
  for (unsigned cpu = 0; cpu < cpus; ++cpu) {
    size_t e = t.append(20);
    t.bytes[e] = kEntryProcessor;
    t.bytes[e + 1] = static_cast<uint8_t>(cpu);
    t.bytes[e + 2] = kLocalApicVersion;
    t.bytes[e + 3] = kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0);
    put_u32(t.bytes, e + 4, kCpuSignature);
    put_u32(t.bytes, e + 8, kCpuFeatures);
  }
  for (auto [id, name] : {std::pair{kPciBus, "PCI   "}, std::pair{kIsaBus, "ISA   "}}) {
    size_t e = t.append(8);
    t.bytes[e] = kEntryBus;
    t.bytes[e + 1] = id;
    std::memcpy(&t.bytes[e + 2], name, 6);
  }
  {
    size_t e = t.append(8);
    t.bytes[e] = kEntryIoApic;
    t.bytes[e + 1] = ioapic_id;
    t.bytes[e + 2] = kIoApicVersion;
    t.bytes[e + 3] = 1;  // enabled
    put_u32(t.bytes, e + 4, static_cast<uint32_t>(PcMachine::kIoApicBase));
  }
  // ISA IRQs: edge, active high (the ISA bus default); IRQ 0 (PIT) is wired to input 2.
  for (uint8_t irq = 0; irq < 16; ++irq) {
    if (irq == 2) continue;  // the 8259 cascade
    t.interrupt(kEntryIoInterrupt, kIntTypeInt, kFlagsConforming, kIsaBus, irq, ioapic_id, irq == 0 ? 2 : irq);
  }
  // PCI: source bus IRQ is (device << 2) | pin; level-triggered, active high as the
  // IOAPIC inputs are driven (asserted = 1).
  for (int slot = 0; slot < 32; ++slot)
    for (int pin = 0; pin < 4; ++pin)
      t.interrupt(kEntryIoInterrupt, kIntTypeInt, kFlagsPciLevelHigh, kPciBus, static_cast<uint8_t>(slot << 2 | pin),
                  ioapic_id, static_cast<uint8_t>(PcMachine::intx_gsi(slot << 3, pin)));
  // Local APIC inputs in virtual-wire mode.
  t.interrupt(kEntryLocalInterrupt, kIntTypeExtInt, kFlagsConforming, kIsaBus, 0, kAllLocalApics, 0);
  t.interrupt(kEntryLocalInterrupt, kIntTypeNmi, kFlagsConforming, kIsaBus, 0, kAllLocalApics, 1);

  std::vector<uint8_t> out(kFloatingSize + kHeaderSize, 0);
  // Floating pointer.
  std::memcpy(out.data(), "_MP_", 4);
  put_u32(out, 4, addr + kFloatingSize);
  out[8] = 1;  // length in 16-byte units
  out[9] = kSpecRevision;
  out[10] = checksum(out.data(), kFloatingSize);
  // Configuration table header.
  uint8_t* h = out.data() + kFloatingSize;
  std::memcpy(h, "PCMP", 4);
  put_u16(out, kFloatingSize + 4, static_cast<uint16_t>(kHeaderSize + t.bytes.size()));
  h[6] = kSpecRevision;
  std::memcpy(h + 8, "NAHANNI ", 8);
  std::memcpy(h + 16, "PC          ", 12);
  put_u16(out, kFloatingSize + 34, t.entries);
  put_u32(out, kFloatingSize + 36, kLocalApicBase);
  out.insert(out.end(), t.bytes.begin(), t.bytes.end());
  out[kFloatingSize + 7] = checksum(out.data() + kFloatingSize, out.size() - kFloatingSize);
  return out;
}

}  // namespace nahanni
