// The doorbell fast paths under KVM, end to end: the PVH test guest rings a host peer and
// waits for interrupts while the test reads the device's status over QMP. With the fast paths
// the guest's Doorbell write reaches the peer through the kernel (ioeventfd: the device wrote
// nothing itself) and the peer's ring interrupts the guest through the kernel (irqfd: the device
// read nothing itself); with ioeventfd=off the device rings the peer.
#include "kvm-guest-fixture.h"

namespace nahanni::test {
namespace {

using KvmDoorbellTest = KvmGuestTest;

TEST_F(KvmDoorbellTest, doorbell_and_interrupts_take_the_kernel_paths) {
  START_GUEST("ring peer=0 vector=1 wait vector=0 wait vector=1");
  // The guest's Doorbell write reached our eventfd for vector 1.
  ASSERT_TRUE(ivshmem::test::rung(host_->vector_fd(0, 1))) << serial();
  nlohmann::json st = qmp_.status();
  ASSERT_TRUE(st.is_object()) << vm_->err();
  EXPECT_EQ(st["doorbells-sent"], nlohmann::json({0, 0})) << st.dump();  // the kernel rang, not the device
  // Both peers (the host and the guest itself) have their Doorbell in the kernel for each vector.
  EXPECT_EQ(st["fast-paths"][0]["ioeventfd-peers"], 2) << st.dump();
  EXPECT_EQ(st["fast-paths"][1]["ioeventfd-peers"], 2) << st.dump();

  ASSERT_TRUE(ivshmem::test::ring(host_->vector_fd(1, 0)));
  ASSERT_TRUE(ivshmem::test::eventually([&] { return serial().find("irq vector 0 count 1") != std::string::npos; }))
      << serial();
  st = qmp_.status();
  EXPECT_EQ(st["fast-paths"][0]["irqfd"], true) << st.dump();
  EXPECT_EQ(st["fast-paths"][1]["irqfd"], true) << st.dump();
  EXPECT_EQ(st["doorbells-received"], nlohmann::json({0, 0})) << st.dump();  // delivered by the kernel

  ASSERT_TRUE(ivshmem::test::ring(host_->vector_fd(1, 1)));
  EXPECT_EQ(vm_->wait(), 33) << serial() << vm_->err();
  EXPECT_NE(serial().find("guest: PASS"), std::string::npos) << serial();
}

TEST_F(KvmDoorbellTest, ioeventfd_off_rings_from_the_device) {
  START_GUEST("ring peer=0 vector=0 wait vector=0", ",ioeventfd=off");
  ASSERT_TRUE(ivshmem::test::rung(host_->vector_fd(0, 0))) << serial();
  nlohmann::json st = qmp_.status();
  ASSERT_TRUE(st.is_object()) << vm_->err();
  EXPECT_EQ(st["doorbells-sent"], nlohmann::json({1, 0})) << st.dump();
  EXPECT_EQ(st["fast-paths"][0]["ioeventfd-peers"], 0) << st.dump();
  ASSERT_TRUE(ivshmem::test::ring(host_->vector_fd(1, 0)));
  EXPECT_EQ(vm_->wait(), 33) << serial() << vm_->err();
}

}  // namespace
}  // namespace nahanni::test
