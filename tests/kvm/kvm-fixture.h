// A fresh pc machine on the KVM accelerator per test, with a tiny hand-made guest poked into
// RAM and an X86CpuEntry built here. The guest talks to two test regions: port 0x500 (writes are
// recorded, 0x501 too; up to 4 bytes) and MMIO at 0xd0000000 (reads of offset 4 give 0xcafef00d, writes are
// recorded). Skips when /dev/kvm cannot be opened.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "accel/kvm/kvm-accel.h"
#include "hw/i386/pc.h"
#include "hw/pci/pci-bus.h"
#include "qom/type.h"
#include "system/accel.h"
#include "system/machine-lock.h"
#include "system/main-loop.h"
#include "system/memory.h"

namespace nahanni::test {

inline constexpr uint16_t kTestPort = 0x500;
inline constexpr uint64_t kTestMmio = 0xd0000000;

struct GuestWrite {
  uint64_t where;  // port, or MMIO offset
  uint64_t value;
  unsigned size;
};

// What the guest wrote, in order; waited for from the test thread while the main loop runs.
class WriteLog {
 public:
  void add(GuestWrite w) {
    std::lock_guard lock(mutex_);
    writes_.push_back(w);
    cv_.notify_all();
  }
  // Waits (pumping the main loop) until a write to `where` arrives; generous bound for CI.
  std::optional<GuestWrite> wait_for(uint64_t where, std::chrono::seconds limit = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        for (auto it = writes_.begin(); it != writes_.end(); ++it)
          if (it->where == where) {
            GuestWrite w = *it;
            writes_.erase(it);
            return w;
          }
      }
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      main_loop().run_once(std::chrono::milliseconds(20));
    }
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<GuestWrite> writes_;
};

inline size_t open_fd_count() {
  size_t n = 0;
  for (int fd = 0; fd < 4096; ++fd)
    if (::fcntl(fd, F_GETFD) >= 0) ++n;
  return n;
}

class KvmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) GTEST_SKIP() << "/dev/kvm cannot be opened (" << std::strerror(errno) << "): KVM tests skipped";
    ::close(fd);
  }

  // Creates the machine and the accelerator; then the test pokes its guest and calls run().
  void create(unsigned cpus = 1) {
    fds_before_ = open_fd_count();
    auto obj = TypeRegistry::instance().create(find_machine_type("pc")->qom_type());
    pc_ = static_cast<PcMachine*>(object_root().add_child("machine", std::move(obj)));
    set_current_machine(pc_);
    Status st = pc_->init(MachineConfig{.ram_size = 64ull << 20, .cpus = cpus});
    ASSERT_TRUE(st.ok()) << st.error().message();
    pc_->on_guest_reset = [this] { ++guest_resets; };
    pc_->on_guest_poweroff = [this] { ++guest_poweroffs; };
    port_ = MemoryRegion::io("test-port", 8,
                             MemoryRegionOps{.read = [](uint64_t, unsigned) -> uint64_t { return 0x5a; },
                                             .write = [this](uint64_t off, uint64_t v, unsigned size) {
                                               log.add({kTestPort + off, v, size});
                                             }});
    pc_->pci_bus().io_window()->add_subregion(kTestPort, port_.get());
    mmio_ = MemoryRegion::io("test-mmio", 0x1000,
                             MemoryRegionOps{.read = [](uint64_t off, unsigned) -> uint64_t {
                                               return off == 4 ? 0xcafef00d : 0;
                                             },
                                             .write = [this](uint64_t off, uint64_t v, unsigned size) {
                                               log.add({kTestMmio + off, v, size});
                                             },
                                             .min_access = 4,
                                             .max_access = 4});
    pc_->pci_bus().memory_window()->add_subregion(kTestMmio, mmio_.get());
    auto accel_obj = TypeRegistry::instance().create(std::string(kKvmAccelType));
    accel_ = static_cast<KvmAccel*>(accel_obj.get());
    st = accel_->init(*pc_);
    ASSERT_TRUE(st.ok()) << st.error().message();
    pc_->add_child("accel", std::move(accel_obj));
    set_current_accel(accel_);
  }

  void run(const X86CpuEntry& entry) {
    pc_->set_boot_entry(entry);
    Status st;
    pc_->reset();
    st = accel_->machine_ready();
    ASSERT_TRUE(st.ok()) << st.error().message();
    st = accel_->start();
    ASSERT_TRUE(st.ok()) << st.error().message();
  }

  void TearDown() override {
    if (!pc_) return;
    accel_->stop();
    accel_->shutdown();
    set_current_accel(nullptr);
    set_current_machine(nullptr);
    port_.reset();
    mmio_.reset();
    (void)object_root().remove_child("machine");
    pc_ = nullptr;
    // Drain what the vCPUs posted before the machine went.
    while (main_loop().run_once(std::chrono::milliseconds(0)) && drained_++ < 8) {
    }
  }

  // Stops the vCPUs and takes `dev` out of the machine as an unplug would; null afterwards.
  template <typename Device>
  void remove_device(Device*& dev) {
    if (!dev) return;
    MachineLockGuard locked;
    accel_->stop();
    dev->unrealize();
    if (Bus* bus = dev->parent_bus()) bus->unplug(*dev);
    (void)dev->parent()->remove_child(dev->name());
    dev = nullptr;
  }

  uint8_t* ram() { return pc_->ram_host(); }
  void poke(uint64_t gpa, std::initializer_list<uint8_t> bytes) { std::memcpy(ram() + gpa, bytes.begin(), bytes.size()); }
  void poke_bytes(uint64_t gpa, const std::vector<uint8_t>& bytes) { std::memcpy(ram() + gpa, bytes.data(), bytes.size()); }

  PcMachine* pc_ = nullptr;
  KvmAccel* accel_ = nullptr;
  WriteLog log;
  std::atomic<int> guest_resets{0};
  std::atomic<int> guest_poweroffs{0};
  size_t fds_before_ = 0;
  std::unique_ptr<MemoryRegion> port_;
  std::unique_ptr<MemoryRegion> mmio_;

 private:
  int drained_ = 0;
};

}  // namespace nahanni::test
