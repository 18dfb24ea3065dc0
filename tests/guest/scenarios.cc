#include "scenarios.h"

#include "console.h"
#include "exit-status.h"
#include "interrupts.h"
#include "io.h"
#include "mptable.h"
#include "hw/misc/ivshmem-regs.h"

namespace nahanni::guest {
namespace {

namespace regs = nahanni::ivshmem;

constexpr unsigned kAllVectors = ~0u;
constexpr unsigned kMaxSyncSlots = 512;

[[noreturn]] void bad(const Step& step, const char* why) {
  print("guest: step %s: %s\n", step.name, why);
  guest_exit(ExitStatus::kBadCommandLine, why);
}

uint64_t number(const Step& step, const char* key, bool required, uint64_t fallback = 0) {
  const char* text = step.find(key);
  if (!text) {
    if (step.has(key)) bad(step, "argument needs a value");
    if (required) {
      print("guest: step %s: missing %s=\n", step.name, key);
      guest_exit(ExitStatus::kBadCommandLine, "missing argument");
    }
    return fallback;
  }
  uint64_t v;
  if (!parse_u64(text, &v)) {
    print("guest: step %s: %s=%s is not a number\n", step.name, key, text);
    guest_exit(ExitStatus::kBadCommandLine, "malformed number");
  }
  return v;
}

unsigned vector_argument(const Step& step, const GuestContext& ctx) {
  if (!ctx.device->vectors) {
    print("guest: step %s: the device has no MSI-X vectors\n", step.name);
    guest_exit(ExitStatus::kNoDevice, "no MSI-X");
  }
  const char* text = step.find("vector");
  if (text && str_equal(text, "all")) return kAllVectors;
  uint64_t v = number(step, "vector", false, 0);
  if (v >= ctx.device->vectors) {
    print("guest: step %s: vector %d but the device has %d MSI-X vectors\n", step.name, v,
          ctx.device->vectors);
    guest_exit(ExitStatus::kBadCommandLine, "no such vector");
  }
  return static_cast<unsigned>(v);
}

uint16_t peer_argument(const Step& step) {
  uint64_t peer = number(step, "peer", true);
  if (peer > 0xffff) bad(step, "peer id above 65535");
  return static_cast<uint16_t>(peer);
}

void check_range(const Step& step, const GuestContext& ctx, uint64_t offset, uint64_t length) {
  if (offset % 4 || length % 4 || length == 0) bad(step, "offset and length must be multiples of 4");
  if (offset > ctx.device->shm_size || length > ctx.device->shm_size - offset)
    bad(step, "range beyond the shared memory");
}

volatile uint32_t* shm_word(const GuestContext& ctx, uint64_t offset) {
  return reinterpret_cast<volatile uint32_t*>(ctx.device->shm + offset);
}

void ring(const GuestContext& ctx, uint16_t peer, unsigned vector) {
  ivshmem_write(*ctx.device, regs::kDoorbell, (uint32_t{peer} << 16) | vector);
}

struct CountWait {
  unsigned vector;  // kAllVectors: every vector
  uint64_t target;  // counts every vector must reach
  unsigned vectors;
};
bool count_reached(void* arg) {
  auto* w = static_cast<CountWait*>(arg);
  if (w->vector != kAllVectors) return device_interrupts(w->vector) >= w->target;
  for (unsigned v = 0; v < w->vectors; ++v)
    if (device_interrupts(v) < w->target) return false;
  return true;
}

// --- steps ------------------------------------------------------------------------------

void run_hello(const Step&, GuestContext&) { print("guest: hello: lapic id %d\n", lapic_id()); }

void list_function(PciAddress a, void*) {
  print("guest: pci 00:%X.%d %X:%X\n", a.device, a.function, pci_read16(a, kPciVendorId),
        pci_read16(a, kPciDeviceId));
}
void run_pci_list(const Step&, GuestContext&) { pci_for_each_function(list_function, nullptr); }

void run_ivposition(const Step& step, GuestContext& ctx) {
  uint32_t position = ivshmem_read(*ctx.device, regs::kIvPosition);
  print("guest: ivposition %d\n", position);
  if (step.find("expect")) {
    uint64_t expected = number(step, "expect", true);
    if (position != expected) {
      print("guest: ivposition: expected %d\n", expected);
      guest_exit(ExitStatus::kMismatch, "ivposition");
    }
  }
}

void run_write_shm(const Step& step, GuestContext& ctx) {
  uint64_t offset = number(step, "offset", true), pattern = number(step, "pattern", true);
  uint64_t length = number(step, "length", false, 4);
  check_range(step, ctx, offset, length);
  // Words after the first go first, so a peer waiting on the first word sees all of them.
  for (uint64_t i = length / 4; i-- > 0;) {
    if (i == 0) asm volatile("mfence" ::: "memory");
    *shm_word(ctx, offset + 4 * i) = static_cast<uint32_t>(pattern + i);
  }
  print("guest: write-shm offset %x length %d pattern %x\n", offset, length, pattern);
}

struct WordWait {
  volatile uint32_t* word;
  uint32_t value;
};
bool word_equals(void* arg) {
  auto* w = static_cast<WordWait*>(arg);
  return *w->word == w->value;
}

void read_shm(const Step& step, GuestContext& ctx, bool wait) {
  uint64_t offset = number(step, "offset", true), expected = number(step, "expect", true);
  uint64_t length = number(step, "length", false, 4);
  check_range(step, ctx, offset, length);
  if (wait) {
    WordWait w{shm_word(ctx, offset), static_cast<uint32_t>(expected)};
    watchdog_kick();
    wait_until(word_equals, &w, "wait-shm: the expected first word", false);
  }
  for (uint64_t i = 0; i < length / 4; ++i) {
    uint32_t got = *shm_word(ctx, offset + 4 * i), want = static_cast<uint32_t>(expected + i);
    if (got != want) {
      print("guest: %s offset %x: read %x, expected %x\n", step.name, offset + 4 * i, got, want);
      guest_exit(ExitStatus::kMismatch, step.name);
    }
  }
  print("guest: %s offset %x length %d ok\n", step.name, offset, length);
}

void run_read_shm(const Step& step, GuestContext& ctx) { read_shm(step, ctx, false); }
void run_wait_shm(const Step& step, GuestContext& ctx) { read_shm(step, ctx, true); }

void run_ring(const Step& step, GuestContext& ctx) {
  uint16_t peer = peer_argument(step);
  unsigned vector = vector_argument(step, ctx);
  uint64_t count = number(step, "count", false, 1);
  unsigned first = vector == kAllVectors ? 0 : vector;
  unsigned last = vector == kAllVectors ? ctx.device->vectors - 1 : vector;
  for (uint64_t n = 0; n < count; ++n)
    for (unsigned v = first; v <= last; ++v) ring(ctx, peer, v);
  print("guest: ring peer %d vectors %d..%d count %d\n", peer, first, last, count);
}

void run_wait(const Step& step, GuestContext& ctx) {
  unsigned vector = vector_argument(step, ctx);
  CountWait w{vector, number(step, "count", false, 1), ctx.device->vectors};
  watchdog_kick();
  wait_until(count_reached, &w, "wait: doorbell interrupts", true);
  unsigned first = vector == kAllVectors ? 0 : vector;
  unsigned last = vector == kAllVectors ? ctx.device->vectors - 1 : vector;
  for (unsigned v = first; v <= last; ++v) print("guest: irq vector %d count %d\n", v, device_interrupts(v));
}

struct SlotWait {
  volatile uint64_t* slot;
  uint64_t generation;
};
bool slot_reached(void* arg) {
  auto* w = static_cast<SlotWait*>(arg);
  return *w->slot >= w->generation;
}

// A rendezvous through shared memory: each side bumps its own slot (indexed by its id) and
// waits for the peer's to reach the same generation. After it, both sides are set up (MSI-X
// programmed), so rings are not lost to a peer that is still booting.
void sync_with(const Step& step, GuestContext& ctx, uint64_t peer) {
  uint64_t self = number(step, "self", ctx.own_id < 0, ctx.own_id < 0 ? 0 : ctx.own_id);
  if (peer >= kMaxSyncSlots || self >= kMaxSyncSlots) bad(step, "ids above 511 have no sync slot");
  if (ctx.sync_offset + 8 * kMaxSyncSlots > ctx.device->shm_size) bad(step, "sync slots beyond the shared memory");
  auto* slots = reinterpret_cast<volatile uint64_t*>(ctx.device->shm + ctx.sync_offset);
  uint64_t generation = ++ctx.sync_generation;
  asm volatile("mfence" ::: "memory");
  slots[self] = generation;
  SlotWait w{&slots[peer], generation};
  watchdog_kick();
  wait_until(slot_reached, &w, "sync: the peer's slot", false);
  print("guest: sync with peer %d generation %d\n", peer, generation);
}

void run_sync(const Step& step, GuestContext& ctx) { sync_with(step, ctx, peer_argument(step)); }

// Rings and answers strictly in turn on one vector. It starts with a sync so that the
// initiator's first ring cannot land before the responder has read its starting count.
void run_pingpong(const Step& step, GuestContext& ctx) {
  uint16_t peer = peer_argument(step);
  uint64_t rounds = number(step, "rounds", true);
  unsigned vector = step.find("vector") ? vector_argument(step, ctx) : 0;
  if (vector == kAllVectors) bad(step, "pingpong uses one vector");
  bool initiator = step.has("initiator");
  uint64_t base = device_interrupts(vector);
  sync_with(step, ctx, peer);
  for (uint64_t r = 1; r <= rounds; ++r) {
    if (initiator) ring(ctx, peer, vector);
    CountWait w{vector, base + r, ctx.device->vectors};
    watchdog_kick();
    wait_until(count_reached, &w, "pingpong: the peer's ring", true);
    if (!initiator) ring(ctx, peer, vector);
  }
  print("guest: pingpong peer %d vector %d rounds %d done\n", peer, vector, rounds);
}

// INTx: the device's pin, routed by the MP table to an IOAPIC input, programmed for
// kIntxVector on this CPU. The handler reads IntrStatus, which clears it and drops the line
// before the EOI (a level-triggered input would fire again otherwise).
constexpr uint8_t kPciInterruptPin = 0x3d;
constexpr uint32_t kIoapicRegisterSelect = 0x00, kIoapicWindow = 0x10, kIoapicRedirection = 0x10;
constexpr uint32_t kRedirectionActiveLow = 1u << 13, kRedirectionLevel = 1u << 15;

uint32_t acknowledge_intx(void* device) {
  return ivshmem_read(*static_cast<const IvshmemDevice*>(device), regs::kIntrStatus);
}

void ioapic_write(uint64_t ioapic, uint32_t reg, uint32_t value) {
  mmio_write32(ioapic + kIoapicRegisterSelect, reg);
  mmio_write32(ioapic + kIoapicWindow, value);
}

void set_up_intx(const Step& step, GuestContext& ctx) {
  IvshmemDevice& dev = *ctx.device;
  if (dev.vectors) {
    print("guest: step %s: the device interrupts through MSI-X, not INTx\n", step.name);
    guest_exit(ExitStatus::kNoDevice, "MSI-X, not INTx");
  }
  uint8_t pin = pci_read8(dev.pci, kPciInterruptPin);
  if (pin < 1 || pin > 4) {
    print("guest: step %s: the device has no INTx pin\n", step.name);
    guest_exit(ExitStatus::kNoDevice, "no INTx pin");
  }
  IntxRoute route;
  if (!mp_find_intx_route(dev.pci.device, pin, &route))
    guest_exit(ExitStatus::kDeviceSetup, "no MP table entry routes the INTx pin");
  static const char* const kPins[] = {"INTA", "INTB", "INTC", "INTD"};
  print("guest: intx %s ioapic %x input %d %s %s vector %x\n", kPins[pin - 1], route.ioapic, route.input,
        route.level ? "level" : "edge", route.active_low ? "active-low" : "active-high", kIntxVector);
  uint32_t entry = kIoapicRedirection + 2u * route.input;  // low dword; the high one follows
  ioapic_write(route.ioapic, entry + 1, lapic_id() << 24);  // physical destination: this CPU
  ioapic_write(route.ioapic, entry, kIntxVector | (route.level ? kRedirectionLevel : 0) |
                                        (route.active_low ? kRedirectionActiveLow : 0));  // fixed, unmasked
  set_intx_ack(acknowledge_intx, &dev);
  uint16_t command = pci_read16(dev.pci, kPciCommand);
  pci_write16(dev.pci, kPciCommand, static_cast<uint16_t>(command & ~kPciCommandIntxDisable));
  ivshmem_write(dev, regs::kIntrMask, 1);  // a ring that came early raises the line now
  ctx.intx_ready = true;
}

bool intx_count_reached(void* target) { return intx_interrupts() >= *static_cast<uint64_t*>(target); }

void run_wait_intx(const Step& step, GuestContext& ctx) {
  uint64_t target = number(step, "count", false, 1);
  if (!ctx.intx_ready) set_up_intx(step, ctx);
  watchdog_kick();
  wait_until(intx_count_reached, &target, "wait-intx: the INTx interrupt", true);
  print("guest: intx count %d intrstatus %x spurious %d\n", intx_interrupts(), intx_last_ack(),
        intx_spurious_interrupts());
}

void run_registers(const Step&, GuestContext& ctx) {
  const IvshmemDevice& d = *ctx.device;
  print("guest: registers intrmask %x intrstatus %x ivposition %d\n", ivshmem_read(d, regs::kIntrMask),
        ivshmem_read(d, regs::kIntrStatus), ivshmem_read(d, regs::kIvPosition));
  if (d.revision >= regs::kRevisionSplit)
    print("guest: registers features %x state %x own-vectors %d peer-count %d\n",
          ivshmem_read(d, regs::kFeatures), ivshmem_read(d, regs::kState), ivshmem_read(d, regs::kOwnVectors),
          ivshmem_read(d, regs::kPeerCount));
}

}  // namespace

const Scenario kScenarios[] = {
    {"hello", false, "", run_hello},
    {"pci-list", false, "", run_pci_list},
    {"ivposition", true, "expect", run_ivposition},
    {"registers", true, "", run_registers},
    {"write-shm", true, "offset pattern length", run_write_shm},
    {"read-shm", true, "offset expect length", run_read_shm},
    {"wait-shm", true, "offset expect length", run_wait_shm},
    {"ring", true, "peer vector count", run_ring},
    {"wait", true, "vector count", run_wait},
    {"pingpong", true, "peer rounds vector initiator self", run_pingpong},
    {"sync", true, "peer self", run_sync},
    {"wait-intx", true, "count", run_wait_intx},
    {nullptr, false, nullptr, nullptr},
};

bool Scenario::accepts(const char* key) const {
  // `keys` is a space-separated list; compare word by word.
  for (const char* k = keys; *k;) {
    const char* a = k;
    const char* b = key;
    while (*a && *a != ' ' && *a == *b) ++a, ++b;
    if ((*a == ' ' || *a == '\0') && *b == '\0') return true;
    while (*k && *k != ' ') ++k;
    while (*k == ' ') ++k;
  }
  return false;
}

const Scenario* find_scenario(const char* name) {
  for (const Scenario* s = kScenarios; s->name; ++s)
    if (str_equal(s->name, name)) return s;
  return nullptr;
}

}  // namespace nahanni::guest
