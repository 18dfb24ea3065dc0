// The core shared by ivshmem-plain, ivshmem-doorbell and the legacy ivshmem shim: PCI identity,
// the BAR0 register file, BAR2 over shared memory given as a host mapping (never copied), the
// 64-bit BAR choice, `master`, interrupts (MSI-X vectors or INTx through IntrStatus/IntrMask),
// and reset. A device with a doorbell adds an IvshmemServerLink (ivshmem-server-link.h).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hw/misc/ivshmem-regs.h"
#include "hw/pci/msix.h"
#include "hw/pci/pci-device.h"
#include "system/memory.h"
#include "util/option-value.h"

namespace nahanni {

class IvshmemServerLink;
class IvshmemFastPaths;

class IvshmemCommon : public PciDevice {
 public:
  IvshmemCommon();
  ~IvshmemCommon() override;

  void reset() override;
  uint32_t read_register(uint32_t offset);
  void write_register(uint32_t offset, uint32_t value);

  // A vector of ours was rung by a peer (called by the server link).
  void vector_rung(unsigned vector);
  IvshmemServerLink* server_link() { return link_.get(); }
  // From the server link, one change at a time: a peer's eventfd for a vector was accepted (our
  // own id included), our own vector's eventfd arrived, a peer's eventfds are about to close, or
  // all of them are (a restarted server). The fast paths follow.
  void server_doorbell_added(uint32_t peer, unsigned vector, int fd);
  void server_own_vector_added(unsigned vector);
  void server_peer_leaving(uint32_t peer);
  void server_link_resetting();
  Msix* msix() { return msix_.get(); }
  uint64_t memory_size() const { return memory_size_; }

 protected:
  struct Config {
    uint16_t device_id;
    uint8_t revision;
    bool intx;            // INTx through IntrStatus/IntrMask instead of MSI-X
    unsigned vectors;     // MSI-X vectors (0: no MSI-X)
  };
  // Realize steps for subclasses, in order: identity and registers, then the shared memory.
  Status realize_core(const Config& config);
  Status map_shared_memory(uint8_t* host, uint64_t size, int fd, const std::string& what);
  void unrealize_core();
  void set_server_link(std::unique_ptr<IvshmemServerLink> link);
  // After set_server_link: ioeventfd for the Doorbell (`ioeventfd`) and irqfds for our vectors
  // when the accelerator offers them (ivshmem-fast-paths.h).
  void enable_fast_paths(bool ioeventfd);
  void config_written(uint32_t offset, uint32_t value, unsigned len) override;

  // Properties common to all three.
  bool use64_ = true;
  OnOffAuto master_ = OnOffAuto::Off;
  std::string name_;

 private:
  void update_intx();
  uint32_t features() const;

  Config config_{};
  std::unique_ptr<MemoryRegion> registers_;
  std::unique_ptr<MemoryRegion> shared_memory_;
  std::unique_ptr<Msix> msix_;
  std::unique_ptr<IvshmemServerLink> link_;
  std::unique_ptr<IvshmemFastPaths> fast_paths_;  // declared after link_: goes first
  uint64_t memory_size_ = 0;
  uint32_t intr_mask_ = 0;
  uint32_t intr_status_ = 0;
  uint32_t peer_select_ = 0;
  uint32_t rung_vectors_ = 0;  // own vectors 0..31 rung since the guest last read them

  friend std::vector<PropertyInfo> ivshmem_common_properties(bool split_device);
};

inline constexpr std::string_view kIvshmemCommonType = "ivshmem-common";
// The properties every variant has; with `split_device`, also those of ivshmem-plain and
// ivshmem-doorbell (master, use64 as a bool, name).
std::vector<PropertyInfo> ivshmem_common_properties(bool split_device);

}  // namespace nahanni
