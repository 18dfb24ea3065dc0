// The machine lock, nahanni's analogue of QEMU's big lock: whoever touches device state or the
// memory map holds it. The main thread holds it all the time except while it sleeps in
// epoll_wait; a KVM vCPU thread takes it for each exit it dispatches to a device (port I/O,
// MMIO) and drops it before re-entering the guest. See docs/devel/architecture.rst.
#pragma once

namespace nahanni {

void machine_lock();
void machine_unlock();
// True when the calling thread holds it.
bool machine_lock_held();

// Holds the lock for a scope (no-op when the calling thread already holds it).
class MachineLockGuard {
 public:
  MachineLockGuard();
  ~MachineLockGuard();
  MachineLockGuard(const MachineLockGuard&) = delete;
  MachineLockGuard& operator=(const MachineLockGuard&) = delete;

 private:
  bool took_;
};

// Drops the lock for a scope when the calling thread holds it (waiting for vCPU threads that may
// need it to reach a safe point), and takes it back at the end.
class MachineUnlockGuard {
 public:
  MachineUnlockGuard();
  ~MachineUnlockGuard();
  MachineUnlockGuard(const MachineUnlockGuard&) = delete;
  MachineUnlockGuard& operator=(const MachineUnlockGuard&) = delete;

 private:
  bool released_;
};

// Makes the main loop hold the lock except while it waits for events; called once by vl, which
// takes the lock first.
void machine_lock_attach_to_main_loop();

}  // namespace nahanni
