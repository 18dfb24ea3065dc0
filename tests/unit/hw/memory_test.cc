// Memory regions and address spaces: flattening with priorities, dispatch of any length across
// region boundaries, unassigned accesses, access splitting and widening, RAM listeners.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "system/memory.h"

namespace nahanni {
namespace {

struct Access {
  bool write;
  uint64_t offset;
  uint64_t value;
  unsigned size;
  bool operator==(const Access&) const = default;
};

// An I/O region that records every callback and reads back offset-derived bytes.
struct RecordingIo {
  std::vector<Access> log;
  std::unique_ptr<MemoryRegion> region;
  RecordingIo(uint64_t size, unsigned min_access, unsigned max_access) {
    region = MemoryRegion::io("rec", size,
                              MemoryRegionOps{.read = [this](uint64_t off, unsigned s) -> uint64_t {
                                                log.push_back({false, off, 0, s});
                                                uint64_t v = 0;
                                                for (unsigned i = 0; i < s; ++i) v |= (0x10 + off + i) << (8 * i);
                                                return v;
                                              },
                                              .write = [this](uint64_t off, uint64_t v, unsigned s) {
                                                log.push_back({true, off, v, s});
                                              },
                                              .min_access = min_access,
                                              .max_access = max_access});
  }
};

class MemoryTest : public ::testing::Test {
 protected:
  MemoryTest() : root_(MemoryRegion::container("root", 0x10000)) {
    ram_a_.fill(0xaa);
    ram_b_.fill(0xbb);
  }
  std::array<uint8_t, 0x100> ram_a_{};
  std::array<uint8_t, 0x100> ram_b_{};
  std::unique_ptr<MemoryRegion> root_;
};

TEST_F(MemoryTest, empty_space_reads_the_unassigned_byte) {
  AddressSpace mem("mem", root_.get(), 0);
  AddressSpace io("io", root_.get(), 0xff);
  EXPECT_EQ(mem.read_value(0x100, 4), 0u);
  EXPECT_EQ(io.read_value(0x100, 4), 0xffffffffu);
  EXPECT_EQ(io.read_value(0x100, 1), 0xffu);
  EXPECT_EQ(io.read_value(0x100, 8), 0xffffffffffffffffull);
  io.write_value(0x100, 0x1234, 2);  // ignored, no crash
  EXPECT_TRUE(mem.flat_view().empty());
}

TEST_F(MemoryTest, ram_region_reads_and_writes_host_memory) {
  auto ram = MemoryRegion::ram("a", ram_a_.size(), ram_a_.data());
  root_->add_subregion(0x1000, ram.get());
  AddressSpace as("mem", root_.get());
  as.write_value(0x1010, 0x1122334455667788ull, 8);
  EXPECT_EQ(ram_a_[0x10], 0x88);
  EXPECT_EQ(ram_a_[0x17], 0x11);
  EXPECT_EQ(as.read_value(0x1010, 8), 0x1122334455667788ull);
  EXPECT_EQ(as.read_value(0x1012, 2), 0x5566u);
  ASSERT_EQ(as.flat_view().size(), 1u);
  EXPECT_EQ(as.flat_view()[0].start, 0x1000u);
  EXPECT_EQ(as.flat_view()[0].size, 0x100u);
  EXPECT_TRUE(ram->mapped());
  EXPECT_EQ(ram->offset_in_container(), 0x1000u);
}

TEST_F(MemoryTest, read_across_ram_gap_and_ram) {
  auto a = MemoryRegion::ram("a", 0x100, ram_a_.data());
  auto b = MemoryRegion::ram("b", 0x100, ram_b_.data());
  root_->add_subregion(0x1000, a.get());
  root_->add_subregion(0x1200, b.get());
  AddressSpace as("io", root_.get(), 0xff);
  std::vector<uint8_t> buf(0x300);
  as.read(0x1000, buf);
  EXPECT_EQ(buf[0], 0xaa);
  EXPECT_EQ(buf[0xff], 0xaa);
  EXPECT_EQ(buf[0x100], 0xff);  // the gap
  EXPECT_EQ(buf[0x1ff], 0xff);
  EXPECT_EQ(buf[0x200], 0xbb);
  EXPECT_EQ(buf[0x2ff], 0xbb);
  // A write across the same span lands in both RAMs and nowhere else.
  std::vector<uint8_t> data(0x300, 0x11);
  as.write(0x1000, data);
  EXPECT_EQ(ram_a_[0xff], 0x11);
  EXPECT_EQ(ram_b_[0], 0x11);
  EXPECT_EQ(ram_b_[0xff], 0x11);
}

TEST_F(MemoryTest, higher_priority_wins_an_overlap) {
  auto a = MemoryRegion::ram("a", 0x100, ram_a_.data());
  auto b = MemoryRegion::ram("b", 0x100, ram_b_.data());
  root_->add_subregion(0x1000, a.get(), 1);
  root_->add_subregion(0x1080, b.get(), 0);
  AddressSpace as("mem", root_.get());
  EXPECT_EQ(as.read_value(0x10f0, 1), 0xaau);  // a covers it
  EXPECT_EQ(as.read_value(0x1100, 1), 0xbbu);  // only b
  const FlatRange* r = as.lookup(0x1100);
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->start, 0x1100u);
  EXPECT_EQ(r->region_offset, 0x80u);
}

TEST_F(MemoryTest, later_region_wins_a_priority_tie) {
  auto a = MemoryRegion::ram("a", 0x100, ram_a_.data());
  auto b = MemoryRegion::ram("b", 0x100, ram_b_.data());
  root_->add_subregion(0x1000, a.get());
  root_->add_subregion(0x1080, b.get());
  AddressSpace as("mem", root_.get());
  EXPECT_EQ(as.read_value(0x1000, 1), 0xaau);
  EXPECT_EQ(as.read_value(0x10f0, 1), 0xbbu);
  // Removing the winner uncovers the other.
  root_->del_subregion(b.get());
  EXPECT_EQ(as.read_value(0x10f0, 1), 0xaau);
  EXPECT_EQ(as.read_value(0x1100, 1), 0u);
  EXPECT_FALSE(b->mapped());
}

TEST_F(MemoryTest, containers_are_transparent_where_they_have_no_subregions) {
  auto low = MemoryRegion::ram("low", 0x100, ram_a_.data());
  auto window = MemoryRegion::container("window", 0x1000);
  auto bar = MemoryRegion::ram("bar", 0x100, ram_b_.data());
  root_->add_subregion(0x1000, low.get(), 0);
  root_->add_subregion(0x1000, window.get(), 5);
  window->add_subregion(0x80, bar.get());
  AddressSpace as("mem", root_.get());
  EXPECT_EQ(as.read_value(0x1000, 1), 0xaau);
  EXPECT_EQ(as.read_value(0x1080, 1), 0xbbu);
  EXPECT_EQ(as.read_value(0x1180, 1), 0u);
}

TEST_F(MemoryTest, nested_offsets_add_up) {
  auto outer = MemoryRegion::container("outer", 0x1000);
  auto inner = MemoryRegion::container("inner", 0x800);
  auto ram = MemoryRegion::ram("r", 0x100, ram_a_.data());
  root_->add_subregion(0x4000, outer.get());
  outer->add_subregion(0x200, inner.get());
  inner->add_subregion(0x30, ram.get());
  AddressSpace as("mem", root_.get());
  ASSERT_EQ(as.flat_view().size(), 1u);
  EXPECT_EQ(as.flat_view()[0].start, 0x4230u);
  ram_a_[5] = 0x5e;
  EXPECT_EQ(as.read_value(0x4235, 1), 0x5eu);
}

TEST_F(MemoryTest, subregion_clipped_to_its_container) {
  auto window = MemoryRegion::container("window", 0x100);
  auto ram = MemoryRegion::ram("r", 0x100, ram_a_.data());
  root_->add_subregion(0x1000, window.get());
  window->add_subregion(0x80, ram.get());  // half of it sticks out
  AddressSpace as("mem", root_.get());
  ASSERT_EQ(as.flat_view().size(), 1u);
  EXPECT_EQ(as.flat_view()[0].start, 0x1080u);
  EXPECT_EQ(as.flat_view()[0].size, 0x80u);
  EXPECT_EQ(as.read_value(0x1100, 1), 0u);
}

TEST_F(MemoryTest, moving_a_subregion_remaps_it) {
  auto ram = MemoryRegion::ram("r", 0x100, ram_a_.data());
  root_->add_subregion(0x1000, ram.get());
  AddressSpace as("mem", root_.get());
  root_->add_subregion(0x3000, ram.get());  // re-adding moves it
  EXPECT_EQ(as.read_value(0x1000, 1), 0u);
  EXPECT_EQ(as.read_value(0x3000, 1), 0xaau);
  ASSERT_EQ(as.flat_view().size(), 1u);
}

TEST_F(MemoryTest, io_access_within_limits_is_one_callback) {
  RecordingIo dev(0x10, 1, 4);
  root_->add_subregion(0x100, dev.region.get());
  AddressSpace as("io", root_.get(), 0xff);
  EXPECT_EQ(as.read_value(0x104, 4), 0x17161514u);
  as.write_value(0x102, 0xbeef, 2);
  EXPECT_EQ(dev.log, (std::vector<Access>{{false, 4, 0, 4}, {true, 2, 0xbeef, 2}}));
}

TEST_F(MemoryTest, io_access_larger_than_max_is_split) {
  RecordingIo dev(0x10, 1, 4);
  root_->add_subregion(0x100, dev.region.get());
  AddressSpace as("io", root_.get(), 0xff);
  EXPECT_EQ(as.read_value(0x100, 8), 0x1716151413121110ull);
  as.write_value(0x108, 0x1122334455667788ull, 8);
  EXPECT_EQ(dev.log, (std::vector<Access>{{false, 0, 0, 4},
                                          {false, 4, 0, 4},
                                          {true, 8, 0x55667788, 4},
                                          {true, 12, 0x11223344, 4}}));
}

TEST_F(MemoryTest, io_access_of_odd_length_is_split_into_powers_of_two) {
  RecordingIo dev(0x10, 1, 8);
  root_->add_subregion(0x100, dev.region.get());
  AddressSpace as("io", root_.get(), 0xff);
  std::array<uint8_t, 7> buf{};
  as.read(0x100, buf);
  EXPECT_EQ(dev.log, (std::vector<Access>{{false, 0, 0, 4}, {false, 4, 0, 2}, {false, 6, 0, 1}}));
  EXPECT_EQ(buf, (std::array<uint8_t, 7>{0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16}));
}

TEST_F(MemoryTest, io_access_smaller_than_min_is_widened) {
  RecordingIo dev(0x10, 4, 4);
  root_->add_subregion(0x100, dev.region.get());
  AddressSpace as("io", root_.get(), 0xff);
  EXPECT_EQ(as.read_value(0x100, 1), 0x10u);
  EXPECT_EQ(as.read_value(0x100, 2), 0x1110u);
  as.write_value(0x104, 0xab, 1);
  EXPECT_EQ(dev.log, (std::vector<Access>{{false, 0, 0, 4}, {false, 0, 0, 4}, {true, 4, 0xab, 4}}));
}

TEST_F(MemoryTest, widened_unaligned_read_returns_the_bytes_at_that_offset) {
  RecordingIo dev(0x10, 4, 4);
  root_->add_subregion(0x100, dev.region.get());
  AddressSpace as("io", root_.get(), 0xff);
  EXPECT_EQ(as.read_value(0x106, 1), 0x16u);  // byte 2 of the dword at 4
  EXPECT_EQ(as.read_value(0x105, 2), 0x1615u);
  EXPECT_EQ(dev.log, (std::vector<Access>{{false, 4, 0, 4}, {false, 4, 0, 4}}));
}

TEST_F(MemoryTest, io_without_callbacks_reads_zero) {
  auto r = MemoryRegion::io("silent", 4, MemoryRegionOps{});
  root_->add_subregion(0x10, r.get());
  AddressSpace as("io", root_.get(), 0xff);
  EXPECT_EQ(as.read_value(0x10, 4), 0u);
  as.write_value(0x10, 1, 4);
}

TEST_F(MemoryTest, read_across_io_and_ram) {
  RecordingIo dev(0x4, 1, 4);
  auto ram = MemoryRegion::ram("r", 0x100, ram_a_.data());
  root_->add_subregion(0x100, dev.region.get());
  root_->add_subregion(0x104, ram.get());
  AddressSpace as("mem", root_.get());
  EXPECT_EQ(as.read_value(0x102, 4), 0xaaaa1312u);
  EXPECT_EQ(dev.log, (std::vector<Access>{{false, 2, 0, 2}}));
}

struct ListenerLog : MemoryListener {
  std::vector<std::string> events;
  void ram_added(const FlatRange& r) override {
    events.push_back("+" + r.region->name() + "@" + std::to_string(r.start) + "/" + std::to_string(r.size));
  }
  void ram_removed(const FlatRange& r) override {
    events.push_back("-" + r.region->name() + "@" + std::to_string(r.start) + "/" + std::to_string(r.size));
  }
};

TEST_F(MemoryTest, listener_hears_existing_ram_on_registration) {
  auto ram = MemoryRegion::ram("a", 0x100, ram_a_.data());
  RecordingIo dev(0x10, 1, 4);
  root_->add_subregion(0x1000, ram.get());
  root_->add_subregion(0x2000, dev.region.get());
  AddressSpace as("mem", root_.get());
  ListenerLog l;
  as.add_listener(&l);
  EXPECT_EQ(l.events, std::vector<std::string>{"+a@4096/256"});  // I/O is not announced
  as.remove_listener(&l);
}

TEST_F(MemoryTest, listener_hears_remaps_as_remove_then_add) {
  auto ram = MemoryRegion::ram("a", 0x100, ram_a_.data());
  AddressSpace as("mem", root_.get());
  ListenerLog l;
  as.add_listener(&l);
  root_->add_subregion(0x1000, ram.get());
  root_->add_subregion(0x2000, ram.get());
  root_->del_subregion(ram.get());
  EXPECT_EQ(l.events, (std::vector<std::string>{"+a@4096/256", "-a@4096/256", "+a@8192/256", "-a@8192/256"}));
  as.remove_listener(&l);
  root_->add_subregion(0x1000, ram.get());
  EXPECT_EQ(l.events.size(), 4u);
}

TEST_F(MemoryTest, listener_hears_a_ram_range_split_by_an_overlap) {
  auto ram = MemoryRegion::ram("a", 0x100, ram_a_.data());
  RecordingIo dev(0x10, 1, 4);
  root_->add_subregion(0x1000, ram.get());
  AddressSpace as("mem", root_.get());
  ListenerLog l;
  as.add_listener(&l);
  root_->add_subregion(0x1080, dev.region.get(), 1);
  EXPECT_EQ(l.events, (std::vector<std::string>{"+a@4096/256", "-a@4096/256", "+a@4096/128", "+a@4240/112"}));
  as.remove_listener(&l);
}

TEST_F(MemoryTest, destroying_a_mapped_region_unmaps_it) {
  auto ram = MemoryRegion::ram("a", 0x100, ram_a_.data());
  root_->add_subregion(0x1000, ram.get());
  AddressSpace as("mem", root_.get());
  ram.reset();
  EXPECT_TRUE(as.flat_view().empty());
  EXPECT_EQ(as.read_value(0x1000, 1), 0u);
}

}  // namespace
}  // namespace nahanni
