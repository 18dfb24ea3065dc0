// The test guest under nahanni-system-x86_64 -accel kvm: the scenarios guest_qemu_test.cc
// proves against Debian's QEMU, now with no firmware (the guest places the BARs itself), plus
// what only nahanni can show: through QMP, that doorbells travelled through ioeventfd and
// irqfd (and through userspace with ioeventfd=off), and a nahanni guest and a QEMU guest
// ringing each other on one server. Skips without a usable /dev/kvm.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/mman.h>

#include "guest-runner.h"
#include "qmp-client.h"

namespace nahanni::guest::test {
namespace {

constexpr unsigned kVectors = GuestLab::kVectors;
// Where guests that stay up for QMP questions wait for the test's go-ahead in shared memory.
constexpr uint64_t kReleaseOffset = 0x10000;
constexpr uint32_t kReleaseWord = 0x600d600d;
const std::string kHold = fmt::format("wait-shm offset={:#x} expect={:#x}", kReleaseOffset, kReleaseWord);

// The server's POSIX shared memory object, mapped so the test can release held guests. The
// server is killed, not stopped, at the end of a test, so the object is removed here.
class ServerMemory {
 public:
  ServerMemory() : name_(fmt::format("nn-guest-test-{}-{}", ::getpid(), ++counter_)) {}
  ~ServerMemory() {
    if (map_) ::munmap(map_, kSize);
    ::shm_unlink(("/" + name_).c_str());
  }
  const std::string& name() const { return name_; }
  bool release_guests() {
    if (!map_) {
      int fd = ::shm_open(("/" + name_).c_str(), O_RDWR | O_CLOEXEC, 0);
      if (fd < 0) return false;
      void* p = ::mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      ::close(fd);
      if (p == MAP_FAILED) return false;
      map_ = p;
    }
    *reinterpret_cast<volatile uint32_t*>(static_cast<char*>(map_) + kReleaseOffset) = kReleaseWord;
    return true;
  }

 private:
  static constexpr size_t kSize = 1 << 20;
  static inline int counter_ = 0;
  std::string name_;
  void* map_ = nullptr;
};

class GuestUnderNahanni : public ::testing::Test {
 protected:
  void SetUp() override {
    if (guest_elf().empty()) GTEST_SKIP() << "the test guest was not built (no x86-64 g++)";
    if (!kvm_usable()) GTEST_SKIP() << "/dev/kvm is absent or not usable";
    ASSERT_TRUE(lab_.ready());
  }

  std::unique_ptr<GuestVm> start(const std::string& tag, const std::string& cmdline,
                                 const std::vector<std::string>& devices = {}, bool qmp = false) {
    return std::make_unique<GuestVm>(nahanni_binary(), "kvm", lab_.dir(), tag, cmdline, devices, qmp);
  }

  // The server and two guests on it (vm0 gets id 0, vm1 id 1). `qemu_peer`: vm1 is Debian's
  // QEMU under TCG instead of nahanni.
  void start_doorbell_pair(const std::string& cmdline0, const std::string& cmdline1, const std::string& device_extra = "",
                           bool qmp = false, bool qemu_peer = false) {
    ASSERT_TRUE(lab_.start_server(memory_.name()));
    vm0_ = start("vm0", cmdline0, lab_.doorbell_device(device_extra), qmp);
    ASSERT_TRUE(lab_.wait_for_server_id(*vm0_)) << lab_.server_log() << vm0_->report();
    if (qemu_peer)
      vm1_ = std::make_unique<GuestVm>(qemu_binary(), "tcg", lab_.dir(), "vm1-qemu", cmdline1, lab_.doorbell_device());
    else
      vm1_ = start("vm1", cmdline1, lab_.doorbell_device(device_extra), qmp);
  }

  void expect_both_pass() {
    auto s0 = vm0_->wait();
    auto s1 = vm1_->wait();
    EXPECT_EQ(s0, exit_code(ExitStatus::kPass)) << vm0_->report() << vm1_->report();
    EXPECT_EQ(s1, exit_code(ExitStatus::kPass)) << vm1_->report() << vm0_->report();
  }

  // Each guest rings every vector of the other and takes every vector once, then holds (a
  // wait-shm on the release word) while the test reads both devices' status over QMP.
  void start_held_pair(const std::string& device_extra) {
    const std::string steps = "ring peer={} vector=all wait vector=all " + kHold;
    ASSERT_NO_FATAL_FAILURE(start_doorbell_pair("watchdog=300 sync peer=1 " + fmt::format(fmt::runtime(steps), 1),
                                                "watchdog=300 sync peer=0 " + fmt::format(fmt::runtime(steps), 0),
                                                device_extra, true));
    ASSERT_TRUE(vm0_->serial_shows("guest: step 4: wait-shm")) << vm0_->report() << vm1_->report();
    ASSERT_TRUE(vm1_->serial_shows("guest: step 4: wait-shm")) << vm1_->report() << vm0_->report();
  }

  nlohmann::json doorbell_status(GuestVm& vm) {
    QmpClient qmp;
    if (!qmp.connect(vm.qmp_path())) return nullptr;
    return qmp.qom_get("/machine/peripheral/iv0", "status");
  }

  GuestLab lab_;
  ServerMemory memory_;
  std::unique_ptr<GuestVm> vm0_, vm1_;
};

TEST_F(GuestUnderNahanni, boots_prints_over_serial_and_exits_with_pass) {
  auto vm = start("hello", "hello pci-list");
  EXPECT_EQ(vm->wait(), exit_code(ExitStatus::kPass)) << vm->report();
  std::string log = vm->serial();
  EXPECT_NE(log.find("guest: cmdline: hello pci-list"), std::string::npos) << vm->report();
  EXPECT_NE(log.find("guest: hello: lapic id 0"), std::string::npos) << vm->report();
  EXPECT_NE(log.find("guest: pci 00:0.0 8086:1237"), std::string::npos) << vm->report();  // the i440FX host bridge
  EXPECT_NE(log.find("guest: PASS"), std::string::npos) << vm->report();
}

TEST_F(GuestUnderNahanni, each_failure_kind_has_its_own_exit_status) {
  std::string shm = lab_.shared_file();
  auto unknown = start("unknown", "hello no-such-step");
  auto no_device = start("nodev", "ivposition");
  auto mismatch = start("mismatch", "read-shm offset=0 expect=0x1", GuestLab::plain_device(shm));
  auto timeout = start("timeout", "watchdog=2 wait-shm offset=0 expect=0x1", GuestLab::plain_device(shm));
  auto no_pin = start("nopin", "wait-intx", GuestLab::plain_device(shm));  // ivshmem-plain has no INTx
  EXPECT_EQ(unknown->wait(), exit_code(ExitStatus::kBadCommandLine)) << unknown->report();
  EXPECT_EQ(no_device->wait(), exit_code(ExitStatus::kNoDevice)) << no_device->report();
  EXPECT_EQ(no_pin->wait(), exit_code(ExitStatus::kNoDevice)) << no_pin->report();
  EXPECT_NE(no_pin->serial().find("guest: step wait-intx: the device has no INTx pin\n"), std::string::npos)
      << no_pin->report();
  EXPECT_EQ(mismatch->wait(), exit_code(ExitStatus::kMismatch)) << mismatch->report();
  EXPECT_EQ(timeout->wait(), exit_code(ExitStatus::kTimeout)) << timeout->report();
  EXPECT_NE(timeout->serial().find("guest: watchdog: gave up waiting for wait-shm"), std::string::npos)
      << timeout->report();
}

// No firmware: the guest sizes and places every BAR, BAR2 above 4 GiB.
TEST_F(GuestUnderNahanni, plain_pair_sees_each_others_writes_on_bars_the_guest_placed) {
  std::string shm = lab_.shared_file();
  vm0_ = start("vm0", "write-shm offset=0x0 pattern=0xa0000000 length=256 "
                      "wait-shm offset=0x1000 expect=0xb0000000 length=256", GuestLab::plain_device(shm));
  vm1_ = start("vm1", "write-shm offset=0x1000 pattern=0xb0000000 length=256 "
                      "wait-shm offset=0x0 expect=0xa0000000 length=256", GuestLab::plain_device(shm));
  expect_both_pass();
  for (auto* vm : {vm0_.get(), vm1_.get()}) {
    EXPECT_NE(vm->serial().find("guest: bar0 0xe0000000 size 0x100 (placed by the guest)"), std::string::npos)
        << vm->report();
    EXPECT_NE(vm->serial().find("guest: bar2 0x800000000 size 0x100000 64-bit (placed by the guest)"),
              std::string::npos) << vm->report();
  }
}

// The legacy "ivshmem" device (gone from QEMU since 4.0, kept by nahanni as a shim) on a POSIX
// shared memory object: the guest finds it by the same ID and revision 0.
TEST_F(GuestUnderNahanni, legacy_pair_shares_an_shm_object) {
  std::vector<std::string> legacy{"-device", "ivshmem,id=iv0,shm=" + memory_.name() + ",size=1"};
  vm0_ = start("vm0", "write-shm offset=0x40 pattern=0x1e9a0000 length=64 "
                      "wait-shm offset=0x2000 expect=0x1e9b0000 length=64", legacy);
  vm1_ = start("vm1", "write-shm offset=0x2000 pattern=0x1e9b0000 length=64 "
                      "wait-shm offset=0x40 expect=0x1e9a0000 length=64", legacy);
  expect_both_pass();
  EXPECT_NE(vm0_->serial().find("id 1110 revision 0"), std::string::npos) << vm0_->report();
}

TEST_F(GuestUnderNahanni, doorbell_ivposition_matches_the_server_assigned_id) {
  ASSERT_NO_FATAL_FAILURE(start_doorbell_pair("ivposition expect=0 registers", "ivposition expect=1 registers"));
  expect_both_pass();
  EXPECT_EQ(lab_.server_id_of(vm0_->pid()), 0);
  EXPECT_EQ(lab_.server_id_of(vm1_->pid()), 1);
  EXPECT_NE(vm0_->serial().find("guest: ivposition 0\n"), std::string::npos) << vm0_->report();
  EXPECT_NE(vm1_->serial().find("guest: ivposition 1\n"), std::string::npos) << vm1_->report();
  // nahanni's doorbell: 1af4:1111 revision 2, four MSI-X vectors.
  EXPECT_NE(vm0_->serial().find("id 1111 revision 2"), std::string::npos) << vm0_->report();
  EXPECT_NE(vm0_->serial().find("msix-vectors 4"), std::string::npos) << vm0_->report();
}

TEST_F(GuestUnderNahanni, doorbells_travel_through_ioeventfd_and_irqfd) {
  ASSERT_NO_FATAL_FAILURE(start_held_pair(""));
  for (auto* vm : {vm0_.get(), vm1_.get()}) {
    nlohmann::json status = doorbell_status(*vm);
    ASSERT_TRUE(status.contains("fast-paths")) << status.dump() << vm->report();
    ASSERT_EQ(status["fast-paths"].size(), kVectors) << status.dump();
    for (unsigned v = 0; v < kVectors; ++v) {
      const auto& path = status["fast-paths"][v];
      EXPECT_EQ(path["vector"], v) << status.dump();
      // The kernel signals the doorbell for the other guest and for the guest itself.
      EXPECT_EQ(path["ioeventfd-peers"], 2) << "vector " << v << ": " << status.dump();
      EXPECT_EQ(path["irqfd"], true) << "vector " << v << ": " << status.dump();
      // Nothing went through userspace: no Doorbell write reached the device model, no
      // eventfd was read by it.
      EXPECT_EQ(status["doorbells-sent"][v], 0) << "vector " << v << ": " << status.dump();
      EXPECT_EQ(status["doorbells-received"][v], 0) << "vector " << v << ": " << status.dump();
    }
  }
  ASSERT_TRUE(memory_.release_guests());
  expect_both_pass();
  for (auto* vm : {vm0_.get(), vm1_.get()})
    for (unsigned v = 0; v < kVectors; ++v)
      EXPECT_NE(vm->serial().find(fmt::format("guest: irq vector {} count 1\n", v)), std::string::npos)
          << vm->report();
}

// With ioeventfd=off the guest's Doorbell write reaches the device model, which signals the
// peer's eventfd itself; the receiving side still takes the interrupt through its irqfd.
TEST_F(GuestUnderNahanni, doorbells_fall_back_to_userspace_with_ioeventfd_off) {
  ASSERT_NO_FATAL_FAILURE(start_held_pair(",ioeventfd=off"));
  for (auto* vm : {vm0_.get(), vm1_.get()}) {
    nlohmann::json status = doorbell_status(*vm);
    ASSERT_TRUE(status.contains("fast-paths")) << status.dump() << vm->report();
    ASSERT_EQ(status["fast-paths"].size(), kVectors) << status.dump();
    for (unsigned v = 0; v < kVectors; ++v) {
      const auto& path = status["fast-paths"][v];
      EXPECT_EQ(path["ioeventfd-peers"], 0) << "vector " << v << ": " << status.dump();
      EXPECT_EQ(path["irqfd"], true) << "vector " << v << ": " << status.dump();
      EXPECT_EQ(status["doorbells-sent"][v], 1) << "vector " << v << ": " << status.dump();  // one ring each
      EXPECT_EQ(status["doorbells-received"][v], 0) << "vector " << v << ": " << status.dump();
    }
  }
  ASSERT_TRUE(memory_.release_guests());
  expect_both_pass();
}

TEST_F(GuestUnderNahanni, doorbell_pingpong_completes) {
  ASSERT_NO_FATAL_FAILURE(start_doorbell_pair("pingpong peer=1 rounds=50 vector=3 initiator",
                                              "pingpong peer=0 rounds=50 vector=3"));
  expect_both_pass();
  EXPECT_NE(vm0_->serial().find("guest: pingpong peer 1 vector 3 rounds 50 done"), std::string::npos)
      << vm0_->report();
  EXPECT_NE(vm1_->serial().find("guest: pingpong peer 0 vector 3 rounds 50 done"), std::string::npos)
      << vm1_->report();
}

// INTx under KVM: a doorbell with msi=off (one vector, IntrStatus/IntrMask) whose guest routes
// its pin through the MP table to the in-kernel IOAPIC. The peer rings twice, each after a
// sync, so the second interrupt also proves the first was acknowledged (IntrStatus read, the
// line dropped, the level-triggered entry's EOI taken). QEMU 7.2's ivshmem-doorbell has no
// INTx mode, so there is no QEMU reference run of this one.
TEST_F(GuestUnderNahanni, doorbell_with_msi_off_interrupts_through_intx_and_the_ioapic) {
  ASSERT_TRUE(lab_.start_server(memory_.name()));
  vm0_ = start("vm0", "sync peer=1 wait-intx sync peer=1 wait-intx count=2 registers",
               lab_.doorbell_device(",msi=off,ioeventfd=off", 1));
  ASSERT_TRUE(lab_.wait_for_server_id(*vm0_)) << lab_.server_log() << vm0_->report();
  vm1_ = start("vm1", "sync peer=0 ring peer=0 vector=0 sync peer=0 ring peer=0 vector=0", lab_.doorbell_device());
  expect_both_pass();
  std::string log = vm0_->serial();
  // Slot 2's INTA: IOAPIC input 18 as the MP table says (docs/system/boot.rst).
  EXPECT_NE(log.find("guest: device 00:2.0 id 1111 revision 2 bar0 0xe0000000 bar2 0x800000000 size 0x100000 "
                     "msix-vectors 0\n"),
            std::string::npos) << vm0_->report();
  EXPECT_NE(log.find("guest: intx INTA ioapic 0xfec00000 input 18 level active-high vector 0x38\n"), std::string::npos)
      << vm0_->report();
  // Counted: interrupts that found IntrStatus set (the software kvm_pvm adds a spurious one
  // after a level interrupt's EOI; real KVM does not, so that number is not asserted).
  EXPECT_TRUE(std::regex_search(log, std::regex("guest: intx count 1 intrstatus 0x1 spurious \\d+\n")))
      << vm0_->report();
  EXPECT_TRUE(std::regex_search(log, std::regex("guest: intx count 2 intrstatus 0x1 spurious \\d+\n")))
      << vm0_->report();
  EXPECT_NE(log.find("guest: registers intrmask 0x1 intrstatus 0x0 ivposition 0\n"), std::string::npos)
      << vm0_->report();
  EXPECT_EQ(log.find("unexpected interrupt"), std::string::npos) << vm0_->report();
}

TEST_F(GuestUnderNahanni, nahanni_and_qemu_guests_ring_each_other_on_one_server) {
  if (qemu_binary().empty()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
  ASSERT_NO_FATAL_FAILURE(start_doorbell_pair(
      "ivposition expect=0 sync peer=1 ring peer=1 vector=all wait vector=all pingpong peer=1 rounds=20 initiator",
      "ivposition expect=1 sync peer=0 ring peer=0 vector=all wait vector=all pingpong peer=0 rounds=20", "",
      false, true));
  expect_both_pass();
  for (auto* vm : {vm0_.get(), vm1_.get()}) {
    for (unsigned v = 0; v < kVectors; ++v)
      EXPECT_NE(vm->serial().find(fmt::format("guest: irq vector {} count 1\n", v)), std::string::npos)
          << vm->report();
    EXPECT_NE(vm->serial().find("rounds 20 done"), std::string::npos) << vm->report();
  }
}

}  // namespace
}  // namespace nahanni::guest::test
