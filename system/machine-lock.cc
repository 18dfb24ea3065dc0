#include "system/machine-lock.h"

#include <atomic>
#include <mutex>
#include <thread>

#include "system/main-loop.h"

namespace nahanni {
namespace {

std::mutex g_lock;
std::atomic<std::thread::id> g_owner{};

}  // namespace

void machine_lock() {
  g_lock.lock();
  g_owner.store(std::this_thread::get_id(), std::memory_order_relaxed);
}

void machine_unlock() {
  g_owner.store(std::thread::id{}, std::memory_order_relaxed);
  g_lock.unlock();
}

bool machine_lock_held() { return g_owner.load(std::memory_order_relaxed) == std::this_thread::get_id(); }

MachineLockGuard::MachineLockGuard() : took_(!machine_lock_held()) {
  if (took_) machine_lock();
}

MachineLockGuard::~MachineLockGuard() {
  if (took_) machine_unlock();
}

MachineUnlockGuard::MachineUnlockGuard() : released_(machine_lock_held()) {
  if (released_) machine_unlock();
}

MachineUnlockGuard::~MachineUnlockGuard() {
  if (released_) machine_lock();
}

void machine_lock_attach_to_main_loop() {
  // Only the thread that runs the loop calls the hooks, so one flag suffices.
  static bool released = false;
  main_loop().set_wait_hooks(
      [] {
        released = machine_lock_held();
        if (released) machine_unlock();
      },
      [] {
        if (released) machine_lock();
        released = false;
      });
}

}  // namespace nahanni
