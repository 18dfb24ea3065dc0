// Run state under KVM with the PVH test guest: stop parks the vCPUs and cont resumes them
// (query-status follows), system_reset restarts vCPU 0 from the boot entry, and quit ends the
// run cleanly while a vCPU is in the guest.
#include "kvm-guest-fixture.h"

namespace nahanni::test {
namespace {

using KvmRunStateTest = KvmGuestTest;

std::string status_of(Qmp& qmp) {
  auto r = qmp.command(R"({"execute":"query-status"})");
  return r.contains("return") ? r["return"]["status"].get<std::string>() : r.dump();
}

TEST_F(KvmRunStateTest, stop_and_cont_pause_and_resume_the_guest) {
  START_GUEST("ring peer=0 vector=0 wait vector=0");
  ASSERT_TRUE(ivshmem::test::rung(host_->vector_fd(0, 0))) << serial();
  EXPECT_EQ(status_of(qmp_), "running");
  EXPECT_TRUE(qmp_.command(R"({"execute":"stop"})").contains("return"));
  EXPECT_EQ(status_of(qmp_), "paused");
  EXPECT_TRUE(qmp_.command(R"({"execute":"cont"})").contains("return"));
  EXPECT_EQ(status_of(qmp_), "running");
  ASSERT_TRUE(ivshmem::test::ring(host_->vector_fd(1, 0)));
  EXPECT_EQ(vm_->wait(), 33) << serial() << vm_->err();
}

TEST_F(KvmRunStateTest, system_reset_restarts_the_guest_from_its_entry) {
  START_GUEST("ring peer=0 vector=0 wait vector=0");
  ASSERT_TRUE(ivshmem::test::rung(host_->vector_fd(0, 0))) << serial();
  EXPECT_TRUE(qmp_.command(R"({"execute":"system_reset"})").contains("return"));
  // The guest boots again from the loader's entry state and rings once more.
  ASSERT_TRUE(ivshmem::test::rung(host_->vector_fd(0, 0))) << serial();
  EXPECT_EQ(status_of(qmp_), "running");
  ASSERT_TRUE(ivshmem::test::ring(host_->vector_fd(1, 0)));
  EXPECT_EQ(vm_->wait(), 33) << serial() << vm_->err();
}

TEST_F(KvmRunStateTest, quit_ends_the_run_while_the_guest_waits) {
  START_GUEST("ring peer=0 vector=0 wait vector=0");
  ASSERT_TRUE(ivshmem::test::rung(host_->vector_fd(0, 0))) << serial();
  qmp_.command(R"({"execute":"quit"})");
  EXPECT_EQ(vm_->wait(), 0) << vm_->err();
  EXPECT_EQ(vm_->err(), "");
  // The peer saw us leave: the server noticed the device's connection close.
  EXPECT_TRUE(host_->pump_until([&] { return !host_->gone().empty(); }));
  EXPECT_EQ(host_->gone(), std::vector<uint16_t>{1});
}

}  // namespace
}  // namespace nahanni::test
