// The test guest under Debian's qemu-system-x86_64 (7.2), TCG and KVM: boot and exit statuses,
// ivshmem-plain pairs on one memory-backend-file, and ivshmem-doorbell pairs on our
// ivshmem-server (ivposition, every vector rung both ways, ping-pong). This proves the guest
// against the reference emulator before the same scenarios run under nahanni.
// Skips without qemu-system-x86_64 (all) or a usable /dev/kvm (the kvm cases).
#include <gtest/gtest.h>

#include <fstream>

#include "guest-runner.h"

namespace nahanni::guest::test {
namespace {

class GuestUnderQemu : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    if (qemu_binary().empty()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
    if (guest_elf().empty()) GTEST_SKIP() << "the test guest was not built (no x86-64 g++)";
    if (std::string(GetParam()) == "kvm" && !kvm_usable()) GTEST_SKIP() << "/dev/kvm is absent or not usable";
    ASSERT_TRUE(lab_.ready());
  }

  std::unique_ptr<GuestVm> start(const std::string& tag, const std::string& cmdline,
                                 const std::vector<std::string>& devices = {}) {
    return std::make_unique<GuestVm>(qemu_binary(), GetParam(), lab_.dir(), tag, cmdline, devices);
  }
  std::string shared_file() {
    std::string path = lab_.shared_file();
    EXPECT_FALSE(path.empty());
    return path;
  }
  static std::vector<std::string> plain_device(const std::string& path) { return GuestLab::plain_device(path); }

  // The server and two guests on it, the second started once the server has given the first
  // its id, so that their ids are 0 and 1.
  void start_doorbell_pair(const std::string& cmdline0, const std::string& cmdline1) {
    ASSERT_TRUE(lab_.start_server());
    vm0_ = start("vm0", cmdline0, lab_.doorbell_device());
    ASSERT_TRUE(lab_.wait_for_server_id(*vm0_)) << lab_.server_log() << vm0_->report();
    vm1_ = start("vm1", cmdline1, lab_.doorbell_device());
  }

  void expect_both_pass() {
    auto s0 = vm0_->wait();
    auto s1 = vm1_->wait();
    EXPECT_EQ(s0, exit_code(ExitStatus::kPass)) << vm0_->report() << vm1_->report();
    EXPECT_EQ(s1, exit_code(ExitStatus::kPass)) << vm1_->report() << vm0_->report();
  }

  GuestLab lab_;
  std::unique_ptr<GuestVm> vm0_, vm1_;
};

TEST_P(GuestUnderQemu, boots_prints_over_serial_and_exits_with_pass) {
  auto vm = start("hello", "hello");
  EXPECT_EQ(vm->wait(), exit_code(ExitStatus::kPass)) << vm->report();
  std::string log = vm->serial();
  EXPECT_NE(log.find("guest: cmdline: hello"), std::string::npos) << vm->report();
  EXPECT_NE(log.find("guest: hello: lapic id 0"), std::string::npos) << vm->report();
  EXPECT_NE(log.find("guest: PASS"), std::string::npos) << vm->report();
}

TEST_P(GuestUnderQemu, each_failure_kind_has_its_own_exit_status) {
  std::string shm = shared_file();
  auto unknown = start("unknown", "hello no-such-step");
  auto no_device = start("nodev", "ivposition");
  auto mismatch = start("mismatch", "read-shm offset=0 expect=0x1", plain_device(shm));
  // Nobody writes the word: the watchdog must end the wait.
  auto timeout = start("timeout", "watchdog=2 wait-shm offset=0 expect=0x1", plain_device(shm));
  EXPECT_EQ(unknown->wait(), exit_code(ExitStatus::kBadCommandLine)) << unknown->report();
  EXPECT_EQ(no_device->wait(), exit_code(ExitStatus::kNoDevice)) << no_device->report();
  EXPECT_EQ(mismatch->wait(), exit_code(ExitStatus::kMismatch)) << mismatch->report();
  EXPECT_EQ(timeout->wait(), exit_code(ExitStatus::kTimeout)) << timeout->report();
  EXPECT_NE(unknown->serial().find("guest: step hello does not take 'no-such-step'"), std::string::npos)
      << unknown->report();
  EXPECT_NE(unknown->serial().find("guest: FAIL bad-command-line"), std::string::npos) << unknown->report();
  EXPECT_NE(mismatch->serial().find("read 0x0, expected 0x1"), std::string::npos) << mismatch->report();
  EXPECT_NE(timeout->serial().find("guest: watchdog: gave up waiting for wait-shm"), std::string::npos)
      << timeout->report();
}

TEST_P(GuestUnderQemu, plain_pair_sees_each_others_writes) {
  std::string shm = shared_file();
  vm0_ = start("vm0", "write-shm offset=0x0 pattern=0xa0000000 length=256 "
                      "wait-shm offset=0x1000 expect=0xb0000000 length=256", plain_device(shm));
  vm1_ = start("vm1", "write-shm offset=0x1000 pattern=0xb0000000 length=256 "
                      "wait-shm offset=0x0 expect=0xa0000000 length=256", plain_device(shm));
  expect_both_pass();
  // And the host sees what they wrote.
  std::ifstream in(shm, std::ios::binary);
  uint32_t words[2] = {};
  in.read(reinterpret_cast<char*>(&words[0]), 4);
  in.seekg(0x1000 + 4 * 63);
  in.read(reinterpret_cast<char*>(&words[1]), 4);
  EXPECT_EQ(words[0], 0xa0000000u);
  EXPECT_EQ(words[1], 0xb0000000u + 63);
}

// QEMU's firmware has placed the BARs; "reassign" makes the guest size and place them itself,
// BAR2 above 4 GiB, as it must under nahanni, which has no firmware.
TEST_P(GuestUnderQemu, guest_places_bars_itself_with_bar2_above_4g) {
  std::string shm = shared_file();
  auto vm = start("reassign", "reassign write-shm offset=0x800 pattern=0x5eed0000 length=16", plain_device(shm));
  EXPECT_EQ(vm->wait(), exit_code(ExitStatus::kPass)) << vm->report();
  EXPECT_NE(vm->serial().find("guest: bar2 0x800000000 size 0x100000 64-bit (placed by the guest)"),
            std::string::npos) << vm->report();
  std::ifstream in(shm, std::ios::binary);
  in.seekg(0x800 + 12);
  uint32_t word = 0;
  in.read(reinterpret_cast<char*>(&word), 4);
  EXPECT_EQ(word, 0x5eed0003u);
}

TEST_P(GuestUnderQemu, doorbell_ivposition_matches_the_server_assigned_id) {
  ASSERT_NO_FATAL_FAILURE(start_doorbell_pair("ivposition expect=0", "ivposition expect=1"));
  expect_both_pass();
  EXPECT_EQ(lab_.server_id_of(vm0_->pid()), 0);
  EXPECT_EQ(lab_.server_id_of(vm1_->pid()), 1);
  EXPECT_NE(vm0_->serial().find("guest: ivposition 0\n"), std::string::npos) << vm0_->report();
  EXPECT_NE(vm1_->serial().find("guest: ivposition 1\n"), std::string::npos) << vm1_->report();
}

TEST_P(GuestUnderQemu, doorbell_pair_rings_each_other_on_every_vector) {
  ASSERT_NO_FATAL_FAILURE(start_doorbell_pair("sync peer=1 ring peer=1 vector=all wait vector=all",
                                              "sync peer=0 ring peer=0 vector=all wait vector=all"));
  expect_both_pass();
  for (auto* vm : {vm0_.get(), vm1_.get()})
    for (unsigned v = 0; v < GuestLab::kVectors; ++v)
      EXPECT_NE(vm->serial().find(fmt::format("guest: irq vector {} count 1\n", v)), std::string::npos)
          << vm->report();
}

TEST_P(GuestUnderQemu, doorbell_pingpong_completes) {
  ASSERT_NO_FATAL_FAILURE(start_doorbell_pair("pingpong peer=1 rounds=50 vector=2 initiator",
                                              "pingpong peer=0 rounds=50 vector=2"));
  expect_both_pass();
  EXPECT_NE(vm0_->serial().find("guest: pingpong peer 1 vector 2 rounds 50 done"), std::string::npos)
      << vm0_->report();
  EXPECT_NE(vm1_->serial().find("guest: pingpong peer 0 vector 2 rounds 50 done"), std::string::npos)
      << vm1_->report();
}

INSTANTIATE_TEST_SUITE_P(Accel, GuestUnderQemu, ::testing::Values("tcg", "kvm"),
                         [](const auto& info) { return std::string(info.param); });

}  // namespace
}  // namespace nahanni::guest::test
