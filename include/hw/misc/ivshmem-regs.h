// The ivshmem guest interface: PCI identity and the BAR0 register file (docs/specs/ivshmem-spec.rst).
#pragma once

#include <cstdint>

namespace nahanni::ivshmem {

inline constexpr uint16_t kDeviceIdPlain = 0x1110;     // also the legacy device and legacy-id=on
inline constexpr uint16_t kDeviceIdDoorbell = 0x1111;  // nahanni's proposal, see the spec
inline constexpr uint32_t kClassMemoryRam = 0x0500;
inline constexpr uint8_t kRevisionLegacy = 0;
inline constexpr uint8_t kRevisionSplit = 2;

inline constexpr uint64_t kRegisterBarSize = 256;
inline constexpr int kRegisterBar = 0, kMsixBar = 1, kMemoryBar = 2;

// Revision 0/1 registers.
inline constexpr uint32_t kIntrMask = 0x00, kIntrStatus = 0x04, kIvPosition = 0x08, kDoorbell = 0x0c;
// Revision 2 registers (reserved, reading 0, on older revisions).
inline constexpr uint32_t kFeatures = 0x10, kState = 0x14, kPeerSelect = 0x18, kPeerVectors = 0x1c,
                          kRungVectors = 0x20, kOwnVectors = 0x24, kPeerCount = 0x28, kNameLength = 0x2c,
                          kName = 0x40;
inline constexpr uint32_t kNameMax = 64;  // bytes at kName, NUL-padded; names are at most 63 characters

inline constexpr uint32_t kFeatureDoorbell = 1u << 0, kFeatureIntx = 1u << 1, kFeatureName = 1u << 2,
                          kFeaturePolling = 1u << 3;
inline constexpr uint32_t kStateSetupComplete = 1u << 0, kStateServerConnected = 1u << 1;

}  // namespace nahanni::ivshmem
