// What accelerators see of the memory map: region eventfds announced where their region is
// mapped (and again at the new address when a BAR moves, and removed when it is unmapped or the
// eventfd deleted), and RAM subregions such as an ivshmem BAR2 announced as they move.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "system/memory.h"

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

}  // namespace
}  // namespace nahanni
