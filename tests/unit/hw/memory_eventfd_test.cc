// What accelerators see of the memory map: region eventfds announced where their region is
// mapped (and again at the new address when a BAR moves, and removed when it is unmapped or the
// eventfd deleted), and RAM subregions such as an ivshmem BAR2 announced as they move.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "accel/kvm/kvm-ioeventfds.h"
#include "system/memory.h"
#include "util/log.h"

namespace nahanni {
namespace {

class RecordingListener : public MemoryListener {
 public:
  explicit RecordingListener(bool takes) : takes_(takes) {}
  void ram_added(const FlatRange& r) override { log.push_back("ram+ " + r.region->name() + " " + hex(r.start)); }
  void ram_removed(const FlatRange& r) override { log.push_back("ram- " + r.region->name() + " " + hex(r.start)); }
  bool eventfd_added(const AddressEventfd& e) override {
    log.push_back("efd+ " + hex(e.address) + " " + hex(e.datamatch) + " fd" + std::to_string(e.fd));
    return takes_;
  }
  void eventfd_removed(const AddressEventfd& e) override {
    log.push_back("efd- " + hex(e.address) + " " + hex(e.datamatch) + " fd" + std::to_string(e.fd));
  }
  std::vector<std::string> take() { return std::exchange(log, {}); }
  std::vector<std::string> log;

 private:
  static std::string hex(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
    return buf;
  }
  bool takes_;
};

using V = std::vector<std::string>;

class MemoryEventfdTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root = MemoryRegion::container("root", UINT64_MAX);
    window = MemoryRegion::container("pci", UINT64_MAX);
    root->add_subregion(0, window.get(), -1);
    registers = MemoryRegion::io("bar0", 0x100, MemoryRegionOps{.read = [](uint64_t, unsigned) -> uint64_t { return 0; },
                                                                .write = [this](uint64_t off, uint64_t v, unsigned) {
                                                                  writes.emplace_back(off, v);
                                                                }});
    space = std::make_unique<AddressSpace>("test", root.get());
  }
  void TearDown() override {
    space.reset();
    registers.reset();
    window.reset();
    root.reset();
  }
  std::unique_ptr<MemoryRegion> root, window, registers;
  std::unique_ptr<AddressSpace> space;
  std::vector<std::pair<uint64_t, uint64_t>> writes;
};

TEST_F(MemoryEventfdTest, eventfd_follows_its_bar_as_the_guest_maps_moves_and_unmaps_it) {
  RecordingListener kvm(true);
  space->add_listener(&kvm);
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 0x10002, .fd = 7});
  EXPECT_EQ(kvm.take(), V{});  // BAR not mapped yet: nothing to bind
  window->add_subregion(0xe0000000, registers.get());
  EXPECT_EQ(kvm.take(), (V{"efd+ 0xe000000c 0x10002 fd7"}));
  EXPECT_TRUE(space->eventfd_taken(7));
  window->add_subregion(0xe1000000, registers.get());  // the guest moves BAR0
  EXPECT_EQ(kvm.take(), (V{"efd- 0xe000000c 0x10002 fd7", "efd+ 0xe100000c 0x10002 fd7"}));
  window->del_subregion(registers.get());
  EXPECT_EQ(kvm.take(), (V{"efd- 0xe100000c 0x10002 fd7"}));
  EXPECT_FALSE(space->eventfd_taken(7));
  space->remove_listener(&kvm);
}

TEST_F(MemoryEventfdTest, deleting_an_eventfd_unbinds_only_that_one) {
  RecordingListener kvm(true);
  space->add_listener(&kvm);
  window->add_subregion(0x1000, registers.get());
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 0x00000, .fd = 7});
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 0x10000, .fd = 8});
  EXPECT_EQ(kvm.take(), (V{"efd+ 0x100c 0x0 fd7", "efd+ 0x100c 0x10000 fd8"}));
  registers->del_eventfd({.offset = 12, .size = 4, .datamatch = 0x10000, .fd = 8});
  EXPECT_EQ(kvm.take(), (V{"efd- 0x100c 0x10000 fd8"}));
  EXPECT_TRUE(space->eventfd_taken(7));
  EXPECT_FALSE(space->eventfd_taken(8));
  space->remove_listener(&kvm);
  EXPECT_EQ(kvm.take(), (V{"efd- 0x100c 0x0 fd7"}));
  EXPECT_FALSE(space->eventfd_taken(7));
}

TEST_F(MemoryEventfdTest, without_a_taker_writes_reach_the_region_callback) {
  RecordingListener declines(false);
  space->add_listener(&declines);
  window->add_subregion(0x1000, registers.get());
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 0x10002, .fd = 7});
  EXPECT_FALSE(space->eventfd_taken(7));
  space->write_value(0x100c, 0x10002, 4);
  ASSERT_EQ(writes.size(), 1u);  // the device's own (userspace) doorbell path
  EXPECT_EQ(writes[0], (std::pair<uint64_t, uint64_t>{12, 0x10002}));
  space->remove_listener(&declines);
}

TEST_F(MemoryEventfdTest, a_late_listener_gets_the_mapped_eventfds) {
  window->add_subregion(0x1000, registers.get());
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 1, .fd = 9});
  RecordingListener kvm(true);
  space->add_listener(&kvm);
  EXPECT_EQ(kvm.take(), (V{"efd+ 0x100c 0x1 fd9"}));
  EXPECT_TRUE(space->eventfd_taken(9));
  space->remove_listener(&kvm);
}

TEST_F(MemoryEventfdTest, a_ram_bar_is_announced_where_the_guest_maps_it_and_moves_it) {
  std::vector<uint8_t> shared(0x2000);
  auto bar2 = MemoryRegion::ram("ivshmem.bar2", shared.size(), shared.data(), 5);
  RecordingListener kvm(true);
  space->add_listener(&kvm);
  window->add_subregion(0x800000000, bar2.get());
  EXPECT_EQ(kvm.take(), (V{"ram+ ivshmem.bar2 0x800000000"}));
  window->add_subregion(0x900000000, bar2.get());
  EXPECT_EQ(kvm.take(), (V{"ram- ivshmem.bar2 0x800000000", "ram+ ivshmem.bar2 0x900000000"}));
  window->del_subregion(bar2.get());
  EXPECT_EQ(kvm.take(), (V{"ram- ivshmem.bar2 0x900000000"}));
  space->remove_listener(&kvm);
}

// A doorbell device attaches one eventfd per peer and vector as they arrive: each is announced
// on its own, and the ones already there are neither announced again nor rebound.
TEST_F(MemoryEventfdTest, adding_one_eventfd_among_thousands_announces_only_that_one) {
  RecordingListener kvm(true);
  space->add_listener(&kvm);
  window->add_subregion(0x1000, registers.get());
  for (int fd = 100; fd < 4100; ++fd)
    registers->add_eventfd({.offset = 12, .size = 4, .datamatch = static_cast<uint64_t>(fd), .fd = fd});
  EXPECT_EQ(kvm.take().size(), 4000u);
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 0x70000, .fd = 7});
  EXPECT_EQ(kvm.take(), (V{"efd+ 0x100c 0x70000 fd7"}));
  registers->del_eventfd({.offset = 12, .size = 4, .datamatch = 2000, .fd = 2000});
  EXPECT_EQ(kvm.take(), (V{"efd- 0x100c 0x7d0 fd2000"}));
  EXPECT_FALSE(space->eventfd_mapped(2000));
  EXPECT_TRUE(space->eventfd_taken(2001));
  space->remove_listener(&kvm);
}

TEST_F(MemoryEventfdTest, an_eventfd_added_twice_is_one_and_goes_with_one_delete) {
  RecordingListener kvm(true);
  space->add_listener(&kvm);
  window->add_subregion(0x1000, registers.get());
  const MemoryRegionEventfd e{.offset = 12, .size = 4, .datamatch = 0x10001, .fd = 7};
  registers->add_eventfd(e);
  registers->add_eventfd(e);
  EXPECT_EQ(kvm.take(), (V{"efd+ 0x100c 0x10001 fd7"}));
  EXPECT_EQ(registers->eventfds().size(), 1u);
  registers->del_eventfd(e);
  registers->del_eventfd(e);
  EXPECT_EQ(kvm.take(), (V{"efd- 0x100c 0x10001 fd7"}));
  EXPECT_FALSE(space->eventfd_mapped(7));
  space->remove_listener(&kvm);
}

// Mapped is where the region sits; taken is whether a listener binds it. A declining listener
// leaves it mapped and untaken (the device rings it itself); unmapping clears both.
TEST_F(MemoryEventfdTest, mapped_and_taken_follow_the_bar_and_the_listeners) {
  registers->add_eventfd({.offset = 12, .size = 4, .datamatch = 1, .fd = 9});
  EXPECT_FALSE(space->eventfd_mapped(9));
  window->add_subregion(0x1000, registers.get());
  EXPECT_TRUE(space->eventfd_mapped(9));
  EXPECT_FALSE(space->eventfd_taken(9));
  RecordingListener declines(false), kvm(true);
  space->add_listener(&declines);
  EXPECT_FALSE(space->eventfd_taken(9));
  space->add_listener(&kvm);
  EXPECT_TRUE(space->eventfd_taken(9));
  window->add_subregion(0x2000, registers.get());  // moved: still mapped and taken, at the new place
  EXPECT_EQ(kvm.take(), (V{"efd+ 0x100c 0x1 fd9", "efd- 0x100c 0x1 fd9", "efd+ 0x200c 0x1 fd9"}));
  EXPECT_TRUE(space->eventfd_mapped(9));
  EXPECT_TRUE(space->eventfd_taken(9));
  space->remove_listener(&kvm);
  EXPECT_FALSE(space->eventfd_taken(9));
  EXPECT_TRUE(space->eventfd_mapped(9));
  window->del_subregion(registers.get());
  EXPECT_FALSE(space->eventfd_mapped(9));
  space->remove_listener(&declines);
}

std::vector<std::string> g_logged;
void record_log(std::string_view line) { g_logged.emplace_back(line); }

// The kernel's I/O bus holds about a thousand ioeventfds per VM; past that every assignment
// fails. A device with thousands of peer doorbells must not log a line for each: the KVM
// listener logs the first refusal at each address (one device's Doorbell register) only, and
// declines them all, so the device rings them itself.
TEST(KvmIoeventfdsTest, refusals_are_logged_once_per_address) {
  log::set_sink(record_log);
  g_logged.clear();
  {
    KvmIoeventfds kvm(-1, false);  // not a VM: every KVM_IOEVENTFD fails with EBADF
    for (uint64_t peer = 0; peer < 50; ++peer) {
      EXPECT_FALSE(kvm.eventfd_added({.address = 0xfe00000c, .size = 4, .datamatch = peer << 16, .fd = 7}));
      EXPECT_FALSE(kvm.eventfd_added({.address = 0xfe10000c, .size = 4, .datamatch = peer << 16, .fd = 8}));
    }
    EXPECT_TRUE(kvm.bound().empty());
  }
  log::set_sink(nullptr);
  const std::string p = log::program_name();
  EXPECT_EQ(g_logged,
            (std::vector<std::string>{
                p + ": warning: kvm: KVM_IOEVENTFD at 0xfe00000c failed: Bad file descriptor; the doorbell stays in "
                    "userspace (further failures at this address are not logged; the device's status counts them as "
                    "ioeventfd-declined)",
                p + ": warning: kvm: KVM_IOEVENTFD at 0xfe10000c failed: Bad file descriptor; the doorbell stays in "
                    "userspace (further failures at this address are not logged; the device's status counts them as "
                    "ioeventfd-declined)"}));
}

}  // namespace
}  // namespace nahanni
