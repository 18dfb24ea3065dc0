// Accelerators run the guest: "qtest" (no CPU; a test drives devices) and "kvm" (real vCPUs).
// There is no "tcg": in an accelerator list (libvirt's accel=kvm:tcg) it is reported as invalid
// and the next one is tried, as a QEMU built without TCG does. Devices never talk to an
// accelerator directly: they get MSI delivery through the machine's MSI window, and the
// accelerator may offer fast paths (ioeventfd, irqfd) through the hooks below.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "qom/object.h"

namespace nahanni {

class Machine;

class Accelerator : public Object {
 public:
  virtual Status init(Machine& machine) = 0;
  // A message-signalled interrupt written by a device (address/data as in the MSI-X table).
  virtual void deliver_msi(uint64_t address, uint32_t data) = 0;
  // Starts guest execution (vCPUs); qtest has none.
  virtual Status start() { return {}; }
  virtual void stop() {}
  virtual bool has_cpus() const { return false; }
  // After the devices exist and the machine was reset, before the run state starts: the place
  // to create vCPUs and check that there is something to run (a boot entry).
  virtual Status machine_ready() { return {}; }
  // A system reset (system_reset, guest reset) after the devices were reset: CPUs back to their
  // power-on state.
  virtual void reset() {}
  // At exit, after the devices were unrealized and before the machine goes: ends the vCPU
  // threads and releases everything tied to the machine (listeners, kernel objects).
  virtual void shutdown() {}
  // Kernel-side MSI delivery from eventfds (system/irqfd.h); null when the accelerator has none.
  virtual class IrqfdService* irqfds() { return nullptr; }
};

inline constexpr std::string_view kAccelType = "accel";

Accelerator* current_accel();
void set_current_accel(Accelerator* accel);

}  // namespace nahanni
