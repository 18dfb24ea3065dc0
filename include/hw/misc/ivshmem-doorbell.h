#pragma once

#include <string>

#include "hw/misc/ivshmem-common.h"
#include "hw/misc/ivshmem-server-link.h"
#include "util/fd.h"

namespace nahanni {

class Chardev;

// Realize and teardown of a device whose memory and interrupts come from an ivshmem server;
// shared by ivshmem-doorbell and the legacy shim's chardev mode.
struct DoorbellSettings {
  Chardev* chardev = nullptr;
  std::string chardev_id;
  uint64_t size = 0;       // expected memory size; 0: whatever the server sends
  unsigned vectors = 1;
  bool msi = true;
  bool ioeventfd = true;
  uint32_t setup_timeout_ms = 5000;
  uint32_t max_peers = IvshmemServerLink::kDefaultMaxPeers;  // other peers whose eventfds the device holds (x-max-peers)
  // The legacy device mapped the first `size` bytes of a larger object; the new one wants equality.
  bool size_is_minimum = false;
};

class IvshmemDoorbell : public IvshmemCommon {
 public:
  std::string chardev_;
  uint64_t size_ = 0;
  uint32_t vectors_ = 1;
  bool ioeventfd_ = true;
  bool msi_ = true;
  bool legacy_id_ = false;
  uint32_t setup_timeout_ms_ = 5000;
  uint32_t max_peers_ = IvshmemServerLink::kDefaultMaxPeers;

  // Validates the settings that make no sense together, then connects and maps the memory.
  Status realize_doorbell(const DoorbellSettings& s, uint16_t device_id, uint8_t revision);

 protected:
  Status do_realize() override;
  void do_unrealize() override;

 private:
  UniqueFd shared_fd_;
  uint8_t* shared_host_ = nullptr;
  uint64_t shared_size_ = 0;
  void release_memory();
};

}  // namespace nahanni
