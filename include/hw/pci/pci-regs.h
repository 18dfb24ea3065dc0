// PCI configuration-space register offsets and bits (PCI Local Bus Specification 3.0).
#pragma once

#include <cstdint>

namespace nahanni::pci {

inline constexpr uint8_t kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06,
                         kRevision = 0x08, kClassProg = 0x09, kClassDevice = 0x0a, kCacheLineSize = 0x0c,
                         kLatencyTimer = 0x0d, kHeaderType = 0x0e, kBar0 = 0x10, kSubsystemVendorId = 0x2c,
                         kSubsystemId = 0x2e, kRomAddress = 0x30, kCapabilityList = 0x34,
                         kInterruptLine = 0x3c, kInterruptPin = 0x3d;

inline constexpr uint16_t kCommandIo = 0x1, kCommandMemory = 0x2, kCommandMaster = 0x4, kCommandParity = 0x40,
                          kCommandSerr = 0x100, kCommandIntxDisable = 0x400;
inline constexpr uint16_t kStatusInterrupt = 0x8, kStatusCapList = 0x10;
// Error bits software clears by writing 1.
inline constexpr uint16_t kStatusW1cMask = 0xf900;

inline constexpr uint8_t kHeaderTypeMultiFunction = 0x80;

inline constexpr uint32_t kBarSpaceIo = 0x1, kBarMemType64 = 0x4, kBarMemPrefetch = 0x8;

inline constexpr uint8_t kCapIdMsix = 0x11, kCapIdVendor = 0x09;
inline constexpr int kNumBars = 6;
inline constexpr int kConfigSize = 256;
inline constexpr int kSlotsPerBus = 32;

// Red Hat/Qumranet IDs used by QEMU's paravirtual devices.
inline constexpr uint16_t kVendorRedHatQumranet = 0x1af4;
inline constexpr uint16_t kSubsystemQemu = 0x1100;

}  // namespace nahanni::pci
