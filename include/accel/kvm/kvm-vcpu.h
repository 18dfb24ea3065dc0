// One KVM vCPU and its thread. The thread runs KVM_RUN and dispatches port I/O and MMIO exits
// to the machine's address spaces under the machine lock. It parks (outside the guest) whenever
// it is not allowed to run: before start, while stopped, after a triple fault or a fatal exit
// until the next reset, and for state changes made from the main thread. Kicks use SIGUSR1 with
// KVM's immediate_exit so that no request is lost between the check and KVM_RUN.
#pragma once

#include <linux/kvm.h>

#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "util/error.h"
#include "util/fd.h"

namespace nahanni {

class Machine;

// What a vCPU thread hands back to the accelerator; called on the vCPU thread without the
// machine lock, so the receiver posts to the main loop.
struct KvmVcpuEvents {
  std::function<void()> guest_reset;     // triple fault, KVM_SYSTEM_EVENT_RESET
  std::function<void()> guest_poweroff;  // KVM_SYSTEM_EVENT_SHUTDOWN
  std::function<void(const std::string& message)> fatal;  // internal error, failed entry, unknown exit
};

class KvmVcpu {
 public:
  static Result<std::unique_ptr<KvmVcpu>> create(int vm_fd, unsigned index, size_t mmap_size);
  ~KvmVcpu();
  KvmVcpu(const KvmVcpu&) = delete;
  KvmVcpu& operator=(const KvmVcpu&) = delete;

  unsigned index() const { return index_; }
  int fd() const { return fd_.get(); }

  // Starts the thread, parked.
  void start_thread(Machine& machine, KvmVcpuEvents events);
  // Lets it enter the guest (unless halted).
  void resume();
  // After a reset: a vCPU halted by a triple fault or a fatal exit may run again.
  void clear_halt();
  // Returns once the thread is parked outside the guest. Drops the machine lock while waiting.
  void pause();
  // Ends the thread and joins it.
  void quit();
  // Number of KVM_RUN exits handled (diagnostics and tests).
  uint64_t exit_count() const;
  // True on a vCPU thread.
  static bool on_vcpu_thread();

 private:
  KvmVcpu(unsigned index, UniqueFd fd, kvm_run* run, size_t run_size)
      : index_(index), fd_(std::move(fd)), run_(run), run_size_(run_size) {}
  void thread_main(Machine& machine, KvmVcpuEvents events);
  // Waits until allowed to run; false when the thread must end.
  bool wait_until_runnable();
  // Handles one exit; false parks the vCPU until the next resume.
  bool handle_exit(Machine& machine, const KvmVcpuEvents& events);
  void kick_locked();

  unsigned index_;
  UniqueFd fd_;
  kvm_run* run_;
  size_t run_size_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool run_allowed_ = false;
  bool halted_ = false;  // stays out of the guest until resume() after a reset
  bool quit_ = false;
  bool parked_ = true;
  uint64_t exits_ = 0;
};

}  // namespace nahanni
