// An ivshmem device as the guest drives it: found by PCI ID on bus 0, BARs placed if needed,
// memory decoding and bus mastering on, BAR0 (registers) and BAR2 (shared memory) mapped, and
// for the doorbell every MSI-X vector N aimed at IDT vector kDeviceVectorBase + N.
#pragma once

#include <cstdint>

#include "pci.h"

namespace nahanni::guest {

inline constexpr uint16_t kIvshmemVendor = 0x1af4;
inline constexpr uint16_t kIvshmemPlainId = 0x1110;     // ivshmem-plain and the legacy device
inline constexpr uint16_t kIvshmemDoorbellId = 0x1111;  // nahanni's ivshmem-doorbell

struct IvshmemDevice {
  PciAddress pci;
  uint16_t device_id = 0;
  uint8_t revision = 0;
  PciBar bars[6];
  uint64_t registers = 0;  // BAR0
  uint64_t shm = 0;        // BAR2
  uint64_t shm_size = 0;
  uint64_t msix_table = 0;
  unsigned vectors = 0;    // MSI-X table size; 0 without MSI-X
};

inline constexpr int kMaxIvshmemDevices = 8;

// Finds the ivshmem functions on bus 0 in slot order; returns how many.
int find_ivshmem_devices(IvshmemDevice* out, int max);

// Places unassigned BARs (all of them with `reassign`), enables decoding and bus mastering,
// maps BAR2 and programs MSI-X. Fails the run (ExitStatus::kDeviceSetup) on errors.
void setup_ivshmem_device(IvshmemDevice& dev, PciWindows& windows, bool reassign);

uint32_t ivshmem_read(const IvshmemDevice& dev, uint32_t reg);
void ivshmem_write(const IvshmemDevice& dev, uint32_t reg, uint32_t v);

}  // namespace nahanni::guest
