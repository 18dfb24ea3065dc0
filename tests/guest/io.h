// Port and memory-mapped I/O for the freestanding test guest.
#pragma once

#include <cstdint>

namespace nahanni::guest {

inline void outb(uint16_t port, uint8_t v) { asm volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
inline void outl(uint16_t port, uint32_t v) { asm volatile("outl %0, %1" : : "a"(v), "Nd"(port)); }
inline uint8_t inb(uint16_t port) {
  uint8_t v;
  asm volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
inline uint32_t inl(uint16_t port) {
  uint32_t v;
  asm volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

// Volatile accesses of exactly the width asked for: devices see one access per call.
inline uint32_t mmio_read32(uint64_t addr) { return *reinterpret_cast<volatile uint32_t*>(addr); }
inline void mmio_write32(uint64_t addr, uint32_t v) { *reinterpret_cast<volatile uint32_t*>(addr) = v; }
inline uint64_t mmio_read64(uint64_t addr) { return *reinterpret_cast<volatile uint64_t*>(addr); }
inline void mmio_write64(uint64_t addr, uint64_t v) { *reinterpret_cast<volatile uint64_t*>(addr) = v; }

inline void cpu_relax() { asm volatile("pause" ::: "memory"); }
inline void interrupts_off() { asm volatile("cli" ::: "memory"); }
inline void interrupts_on() { asm volatile("sti" ::: "memory"); }
// Enables interrupts and halts in one step (STI's shadow covers HLT), so an interrupt that
// arrives between the caller's check and the halt still wakes it; returns with them off.
inline void wait_for_interrupt() { asm volatile("sti; hlt; cli" ::: "memory"); }

}  // namespace nahanni::guest
