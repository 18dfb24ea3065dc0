#include "accel/kvm/kvm-vcpu.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "accel/kvm/kvm-cpu-state.h"
#include "hw/core/machine.h"
#include "system/machine-lock.h"
#include "system/memory.h"

namespace nahanni {
namespace {

constexpr int kKickSignal = SIGUSR1;
thread_local bool t_on_vcpu_thread = false;

void install_kick_handler() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa{};
    sa.sa_handler = [](int) {};  // only interrupts KVM_RUN (no SA_RESTART)
    sigemptyset(&sa.sa_mask);
    ::sigaction(kKickSignal, &sa, nullptr);
  });
}

const char* exit_name(uint32_t reason) {
  switch (reason) {
    case KVM_EXIT_UNKNOWN: return "KVM_EXIT_UNKNOWN";
    case KVM_EXIT_EXCEPTION: return "KVM_EXIT_EXCEPTION";
    case KVM_EXIT_HYPERCALL: return "KVM_EXIT_HYPERCALL";
    case KVM_EXIT_DEBUG: return "KVM_EXIT_DEBUG";
    case KVM_EXIT_HLT: return "KVM_EXIT_HLT";
    case KVM_EXIT_FAIL_ENTRY: return "KVM_EXIT_FAIL_ENTRY";
    case KVM_EXIT_INTERNAL_ERROR: return "KVM_EXIT_INTERNAL_ERROR";
    default: return "unexpected exit";
  }
}

}  // namespace

bool KvmVcpu::on_vcpu_thread() { return t_on_vcpu_thread; }

Result<std::unique_ptr<KvmVcpu>> KvmVcpu::create(int vm_fd, unsigned index, size_t mmap_size) {
  int fd = ::ioctl(vm_fd, KVM_CREATE_VCPU, static_cast<unsigned long>(index));
  if (fd < 0) return Error::format("kvm: KVM_CREATE_VCPU {} failed: {}", index, std::strerror(errno));
  UniqueFd vcpu_fd(fd);
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
  void* run = ::mmap(nullptr, mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (run == MAP_FAILED) return Error::format("kvm: cannot map vCPU {} run area: {}", index, std::strerror(errno));
  return std::unique_ptr<KvmVcpu>(new KvmVcpu(index, std::move(vcpu_fd), static_cast<kvm_run*>(run), mmap_size));
}

KvmVcpu::~KvmVcpu() {
  quit();
  ::munmap(run_, run_size_);
}

void KvmVcpu::start_thread(Machine& machine, KvmVcpuEvents events) {
  install_kick_handler();
  thread_ = std::thread([this, &machine, events = std::move(events)] { thread_main(machine, events); });
  // QEMU's thread names, so that ps and tests tell vCPU threads apart (set here: no race).
  ::pthread_setname_np(thread_.native_handle(), fmt::format("CPU {}/KVM", index_).c_str());
}

void KvmVcpu::kick_locked() {
  // Set before the signal: a thread between its check and KVM_RUN then returns at once.
  __atomic_store_n(&run_->immediate_exit, 1, __ATOMIC_SEQ_CST);
  if (thread_.joinable()) ::pthread_kill(thread_.native_handle(), kKickSignal);
}

void KvmVcpu::resume() {
  std::lock_guard lock(mutex_);
  run_allowed_ = true;
  cv_.notify_all();
}

void KvmVcpu::clear_halt() {
  std::lock_guard lock(mutex_);
  halted_ = false;
  cv_.notify_all();
}

void KvmVcpu::pause() {
  // The thread may be waiting for the machine lock to finish an exit.
  MachineUnlockGuard unlocked;
  std::unique_lock lock(mutex_);
  run_allowed_ = false;
  if (!thread_.joinable() || parked_) return;
  kick_locked();
  cv_.wait(lock, [this] { return parked_; });
}

void KvmVcpu::quit() {
  {
    std::lock_guard lock(mutex_);
    if (!thread_.joinable()) return;
    quit_ = true;
    kick_locked();
    cv_.notify_all();
  }
  MachineUnlockGuard unlocked;
  thread_.join();
}

uint64_t KvmVcpu::exit_count() const {
  std::lock_guard lock(mutex_);
  return exits_;
}

bool KvmVcpu::wait_until_runnable() {
  std::unique_lock lock(mutex_);
  for (;;) {
    if (quit_) {
      parked_ = true;
      cv_.notify_all();
      return false;
    }
    if (run_allowed_ && !halted_) break;
    if (!parked_) {
      parked_ = true;
      cv_.notify_all();
    }
    cv_.wait(lock);
  }
  parked_ = false;
  // Any earlier kick was for a request now consumed (under this same mutex).
  __atomic_store_n(&run_->immediate_exit, 0, __ATOMIC_SEQ_CST);
  return true;
}

void KvmVcpu::thread_main(Machine& machine, KvmVcpuEvents events) {
  t_on_vcpu_thread = true;
  while (wait_until_runnable()) {
    if (::ioctl(fd(), KVM_RUN, 0) < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      std::string message = fmt::format("kvm: KVM_RUN failed on vCPU {}: {}", index_, std::strerror(errno));
      {
        std::lock_guard lock(mutex_);
        halted_ = true;
      }
      events.fatal(message);
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      ++exits_;
    }
    if (!handle_exit(machine, events)) {
      std::lock_guard lock(mutex_);
      halted_ = true;
    }
  }
}

bool KvmVcpu::handle_exit(Machine& machine, const KvmVcpuEvents& events) {
  switch (run_->exit_reason) {
    case KVM_EXIT_IO: {
      auto* data = reinterpret_cast<uint8_t*>(run_) + run_->io.data_offset;
      MachineLockGuard locked;
      AddressSpace* io = machine.io();
      for (uint32_t i = 0; i < run_->io.count; ++i, data += run_->io.size) {
        if (!io) {
          if (run_->io.direction == KVM_EXIT_IO_IN) std::memset(data, 0xff, run_->io.size);
        } else if (run_->io.direction == KVM_EXIT_IO_OUT) {
          io->write(run_->io.port, std::span<const uint8_t>(data, run_->io.size));
        } else {
          io->read(run_->io.port, std::span<uint8_t>(data, run_->io.size));
        }
      }
      return true;
    }
    case KVM_EXIT_MMIO: {
      MachineLockGuard locked;
      AddressSpace* memory = machine.memory();
      if (!memory) return true;
      if (run_->mmio.is_write)
        memory->write(run_->mmio.phys_addr, std::span<const uint8_t>(run_->mmio.data, run_->mmio.len));
      else
        memory->read(run_->mmio.phys_addr, std::span<uint8_t>(run_->mmio.data, run_->mmio.len));
      return true;
    }
    case KVM_EXIT_INTR:
      return true;
    case KVM_EXIT_SHUTDOWN:
      // A triple fault: the CPU state is gone until the machine resets it.
      events.guest_reset();
      return false;
    case KVM_EXIT_SYSTEM_EVENT:
      if (run_->system_event.type == KVM_SYSTEM_EVENT_RESET) events.guest_reset();
      else events.guest_poweroff();
      return false;
    case KVM_EXIT_FAIL_ENTRY:
      events.fatal(fmt::format("kvm: vCPU {}: KVM_EXIT_FAIL_ENTRY (hardware reason 0x{:x}): {}", index_,
                               run_->fail_entry.hardware_entry_failure_reason, kvm_register_summary(fd())));
      return false;
    case KVM_EXIT_INTERNAL_ERROR:
      events.fatal(fmt::format("kvm: vCPU {}: KVM_EXIT_INTERNAL_ERROR (suberror {}): {}", index_,
                               run_->internal.suberror, kvm_register_summary(fd())));
      return false;
    default:
      events.fatal(fmt::format("kvm: vCPU {}: {} (exit reason {}): {}", index_, exit_name(run_->exit_reason),
                               run_->exit_reason, kvm_register_summary(fd())));
      return false;
  }
}

}  // namespace nahanni
