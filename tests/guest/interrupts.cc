#include "interrupts.h"

#include "console.h"
#include "exit-status.h"
#include "io.h"

extern "C" char interrupt_stubs[];

namespace nahanni::guest {
namespace {

constexpr uint64_t kLapicBase = 0xfee00000;
constexpr uint32_t kLapicId = 0x20, kLapicTpr = 0x80, kLapicEoi = 0xb0, kLapicSvr = 0xf0,
                   kLapicLvtTimer = 0x320, kLapicLvtLint0 = 0x350, kLapicLvtLint1 = 0x360,
                   kLapicLvtError = 0x370, kLapicTimerInitial = 0x380, kLapicTimerDivide = 0x3e0;
constexpr uint32_t kLvtMasked = 1u << 16, kLvtPeriodic = 1u << 17;
constexpr uint32_t kSvrEnable = 1u << 8;
// QEMU's and KVM's LAPIC timers count at 1 GHz before the divider: divide by 128, one second
// is 7,812,500 counts. A wrong guess only stretches or shrinks the watchdog.
constexpr uint32_t kDivideBy128 = 0xa;
constexpr uint32_t kCountsPerSecond = 7812500;
// The watchdog's backstop for a LAPIC timer that never fires: a bound on halts and spins.
constexpr uint64_t kMaxWaitLoops = 2000000000ull;

struct [[gnu::packed]] IdtEntry {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attributes;
  uint16_t offset_mid;
  uint32_t offset_high;
  uint32_t reserved;
};
struct [[gnu::packed]] IdtPointer {
  uint16_t limit;
  uint64_t base;
};

alignas(16) IdtEntry idt[256];
volatile uint64_t device_counts[kMaxDeviceVectors];
volatile uint64_t unexpected_count;
volatile uint64_t intx_count;
volatile uint64_t intx_spurious_count;
volatile uint32_t intx_ack_value;
uint32_t (*intx_ack)(void*);
void* intx_ack_arg;
volatile uint64_t seconds;
volatile uint64_t watchdog_deadline;
unsigned watchdog_period;

uint32_t lapic_read(uint32_t reg) { return mmio_read32(kLapicBase + reg); }
void lapic_write(uint32_t reg, uint32_t v) { mmio_write32(kLapicBase + reg, v); }

}  // namespace

struct InterruptFrame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error_code;
  uint64_t rip, cs, rflags, rsp, ss;
};

extern "C" void interrupt_dispatch(InterruptFrame* frame) {
  uint64_t v = frame->vector;
  if (v < 32) {
    uint64_t cr2;
    asm volatile("mov %%cr2, %0" : "=r"(cr2));
    print("guest: exception %d error %x rip %x cr2 %x\n", v, frame->error_code, frame->rip, cr2);
    guest_exit(ExitStatus::kException, "CPU exception");
  }
  if (v == kSpuriousVector) return;  // no EOI for spurious interrupts
  if (v == kTimerVector)
    seconds = seconds + 1;
  else if (v == kIntxVector && intx_ack) {
    // The line drops before the EOI. A level-triggered line may interrupt with nothing pending
    // (shared lines; kvm_pvm delivers a level interrupt once more after its EOI): as a driver
    // does, only an interrupt the device claims counts.
    uint32_t status = intx_ack(intx_ack_arg);
    if (status) {
      intx_ack_value = status;
      intx_count = intx_count + 1;
    } else {
      intx_spurious_count = intx_spurious_count + 1;
    }
  } else if (v >= kDeviceVectorBase && v < kDeviceVectorBase + kMaxDeviceVectors)
    device_counts[v - kDeviceVectorBase] = device_counts[v - kDeviceVectorBase] + 1;
  else
    unexpected_count = unexpected_count + 1;
  lapic_write(kLapicEoi, 0);
}

void interrupts_init(unsigned watchdog_seconds) {
  auto base = reinterpret_cast<uint64_t>(interrupt_stubs);
  for (unsigned v = 0; v < 256; ++v) {
    uint64_t handler = base + 16 * v;
    idt[v] = IdtEntry{
        .offset_low = static_cast<uint16_t>(handler),
        .selector = 0x08,
        .ist = 0,
        .type_attributes = 0x8e,  // present, DPL 0, 64-bit interrupt gate
        .offset_mid = static_cast<uint16_t>(handler >> 16),
        .offset_high = static_cast<uint32_t>(handler >> 32),
        .reserved = 0,
    };
  }
  IdtPointer pointer{sizeof idt - 1, reinterpret_cast<uint64_t>(idt)};
  asm volatile("lidt %0" : : "m"(pointer));

  // Firmware (SeaBIOS under QEMU) may leave the PIT routed through the 8259s; mask them so
  // only the LAPIC delivers.
  outb(0x21, 0xff);
  outb(0xa1, 0xff);

  lapic_write(kLapicSvr, kSvrEnable | kSpuriousVector);
  lapic_write(kLapicTpr, 0);
  lapic_write(kLapicLvtLint0, kLvtMasked);
  lapic_write(kLapicLvtLint1, kLvtMasked);
  lapic_write(kLapicLvtError, kLvtMasked);
  lapic_write(kLapicTimerDivide, kDivideBy128);
  lapic_write(kLapicLvtTimer, kLvtPeriodic | kTimerVector);
  lapic_write(kLapicTimerInitial, kCountsPerSecond);
  watchdog_period = watchdog_seconds;
  watchdog_kick();
}

uint32_t lapic_id() { return lapic_read(kLapicId) >> 24; }

uint64_t device_interrupts(unsigned vector) {
  return vector < kMaxDeviceVectors ? device_counts[vector] : 0;
}

uint64_t unexpected_interrupts() { return unexpected_count; }

void set_intx_ack(uint32_t (*ack)(void*), void* arg) {
  intx_ack_arg = arg;
  intx_ack = ack;
}
uint64_t intx_interrupts() { return intx_count; }
uint64_t intx_spurious_interrupts() { return intx_spurious_count; }
uint32_t intx_last_ack() { return intx_ack_value; }

void watchdog_kick() { watchdog_deadline = seconds + watchdog_period; }

void wait_until(bool (*done)(void*), void* arg, const char* what, bool halt) {
  auto expired = [](uint64_t loops) { return seconds >= watchdog_deadline || loops >= kMaxWaitLoops; };
  uint64_t loops = 0;
  if (halt) {
    // `done` reads what handlers write: test it with interrupts off, halt with them on.
    interrupts_off();
    for (; !done(arg) && !expired(loops); ++loops) wait_for_interrupt();
  } else {
    // Shared memory changes without an interrupt: spin with interrupts on throughout, so the
    // timer gets in (under TCG only at a block boundary, never inside an sti/cli pair).
    interrupts_on();
    for (; !done(arg) && !expired(loops); ++loops) cpu_relax();
    interrupts_off();
  }
  if (!done(arg)) {
    print("guest: watchdog: gave up waiting for %s after %d s\n", what, watchdog_period);
    guest_exit(ExitStatus::kTimeout, what);
  }
}

}  // namespace nahanni::guest
