// The ivshmem BAR0 register file, accessed as 32-bit volatile loads and stores on a mapping
// (docs/specs/ivshmem-spec.rst has the layout).
#pragma once

#include <cstdint>

namespace nahanni::guest {

class IvshmemRegisters {
 public:
  static constexpr uint32_t kIntrMask = 0x00, kIntrStatus = 0x04, kIvPosition = 0x08, kDoorbell = 0x0c;
  // Revision 2 only (reserved, reading 0, before).
  static constexpr uint32_t kFeatures = 0x10, kState = 0x14, kRungVectors = 0x20;
  static constexpr uint32_t kFeatureDoorbell = 1u << 0, kFeatureIntx = 1u << 1, kFeaturePolling = 1u << 3;
  static constexpr uint32_t kStateSetupComplete = 1u << 0;

  explicit IvshmemRegisters(void* base) : base_(static_cast<volatile uint32_t*>(base)) {}

  uint32_t read(uint32_t offset) const { return base_[offset / 4]; }
  void write(uint32_t offset, uint32_t value) { base_[offset / 4] = value; }

  uint32_t iv_position() const { return read(kIvPosition); }
  // Reading IntrStatus acknowledges it (and lowers INTx).
  uint32_t take_intr_status() { return read(kIntrStatus); }
  void set_intr_mask(uint32_t mask) { write(kIntrMask, mask); }
  // Interrupts vector `vector` of peer `peer`.
  void ring(uint16_t peer, uint16_t vector) { write(kDoorbell, (uint32_t{peer} << 16) | vector); }
  uint32_t features() const { return read(kFeatures); }
  // Vectors (bits 0..31) rung since the last read; reading clears them.
  uint32_t take_rung_vectors() { return read(kRungVectors); }

 private:
  volatile uint32_t* base_;
};

}  // namespace nahanni::guest
