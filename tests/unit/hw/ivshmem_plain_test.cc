// ivshmem-plain on the pc machine: identity, BARs, the BAR0 register file, memdev rules.
// (Doorbell tests need the chardev layer and live elsewhere.)
#include "hw/misc/ivshmem-common.h"
#include "hw/misc/ivshmem-regs.h"
#include "pc-fixture.h"

namespace nahanni::test {
namespace {

class IvshmemPlainTest : public PcTest {
 protected:
  IvshmemCommon* add_plain(std::string_view extra = "", std::string_view backend = "size=1M,share=on") {
    add_backend("memory-backend-memfd,id=m," + std::string(backend));
    auto r = add_device("ivshmem-plain,id=iv,addr=6,memdev=m" + std::string(extra));
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? static_cast<IvshmemCommon*>(*r) : nullptr;
  }
  static constexpr int kDevfn = 6 << 3;
  uint32_t reg(uint32_t offset) { return static_cast<uint32_t>(mem().read_value(0xe0000000 + offset, 4)); }
  void map_bar0() {
    cfg_write(kDevfn, 0x10, 0xe0000000, 4);
    cfg_write(kDevfn, 0x04, 0x2, 2);
  }
};

TEST_F(IvshmemPlainTest, identity) {
  ASSERT_NE(add_plain(), nullptr);
  EXPECT_EQ(cfg_read(kDevfn, 0x00, 4), 0x11101af4u);
  EXPECT_EQ(cfg_read(kDevfn, 0x08, 4), 0x05000002u);  // memory controller RAM, revision 2
  EXPECT_EQ(cfg_read(kDevfn, 0x2c, 4), 0x11001af4u);
  EXPECT_EQ(cfg_read(kDevfn, 0x3d, 1), 0u);  // no INTx
  EXPECT_EQ(cfg_read(kDevfn, 0x0e, 1), 0u);
}

TEST_F(IvshmemPlainTest, bar0_is_256_bytes_32_bit_and_bar1_absent) {
  ASSERT_NE(add_plain(), nullptr);
  cfg_write(kDevfn, 0x10, 0xffffffff, 4);
  EXPECT_EQ(cfg_read(kDevfn, 0x10, 4), 0xffffff00u);
  cfg_write(kDevfn, 0x14, 0xffffffff, 4);
  EXPECT_EQ(cfg_read(kDevfn, 0x14, 4), 0u);
}

TEST_F(IvshmemPlainTest, bar2_is_64_bit_prefetchable_by_default) {
  ASSERT_NE(add_plain("", "size=4M,share=on"), nullptr);
  EXPECT_EQ(cfg_read(kDevfn, 0x18, 4), 0xcu);
  cfg_write(kDevfn, 0x18, 0xffffffff, 4);
  cfg_write(kDevfn, 0x1c, 0xffffffff, 4);
  EXPECT_EQ(cfg_read(kDevfn, 0x18, 4), 0xffc0000cu);
  EXPECT_EQ(cfg_read(kDevfn, 0x1c, 4), 0xffffffffu);
}

TEST_F(IvshmemPlainTest, bar2_is_32_bit_prefetchable_with_use64_off) {
  ASSERT_NE(add_plain(",use64=off", "size=4M,share=on"), nullptr);
  EXPECT_EQ(cfg_read(kDevfn, 0x18, 4), 0x8u);
  cfg_write(kDevfn, 0x18, 0xffffffff, 4);
  EXPECT_EQ(cfg_read(kDevfn, 0x18, 4), 0xffc00008u);
  EXPECT_EQ(cfg_read(kDevfn, 0x1c, 4), 0u);
}

TEST_F(IvshmemPlainTest, bar2_maps_the_backend_memory_itself) {
  IvshmemCommon* d = add_plain();
  ASSERT_NE(d, nullptr);
  auto* m = static_cast<HostMemoryBackend*>(find_user_object("m"));
  cfg_write(kDevfn, 0x18, 0xe0100000, 4);  // low dword only, as libqos
  cfg_write(kDevfn, 0x04, 0x2, 2);
  EXPECT_EQ(d->bar_address(2), 0xe0100000u);
  mem().write_value(0xe0100010, 0x12345678, 4);
  EXPECT_EQ(m->host()[0x10], 0x78);
  m->host()[0xfffff] = 0xab;
  EXPECT_EQ(mem().read_value(0xe01fffff, 1), 0xabu);
  EXPECT_EQ(d->memory_size(), 1u << 20);
}

TEST_F(IvshmemPlainTest, register_file_after_reset) {
  ASSERT_NE(add_plain(), nullptr);
  map_bar0();
  using namespace ivshmem;
  EXPECT_EQ(reg(kIntrMask), 0u);
  EXPECT_EQ(reg(kIntrStatus), 0u);
  EXPECT_EQ(reg(kIvPosition), 0u);
  EXPECT_EQ(reg(kDoorbell), 0u);
  EXPECT_EQ(reg(kFeatures), 0u);
  EXPECT_EQ(reg(kState), kStateSetupComplete);
  EXPECT_EQ(reg(kPeerCount), 0u);
  EXPECT_EQ(reg(kNameLength), 0u);
  EXPECT_EQ(reg(kName), 0u);
  EXPECT_EQ(reg(0xfc), 0u);
}

TEST_F(IvshmemPlainTest, intr_mask_is_read_write_and_cleared_by_reset) {
  ASSERT_NE(add_plain(), nullptr);
  map_bar0();
  mem().write_value(0xe0000000 + ivshmem::kIntrMask, 0xffffffff, 4);
  EXPECT_EQ(reg(ivshmem::kIntrMask), 0xffffffffu);
  mem().write_value(0xe0000000 + ivshmem::kIvPosition, 5, 4);  // read-only
  EXPECT_EQ(reg(ivshmem::kIvPosition), 0u);
  g_pc->reset();
  map_bar0();
  EXPECT_EQ(reg(ivshmem::kIntrMask), 0u);
}

TEST_F(IvshmemPlainTest, name_is_readable_from_bar0) {
  ASSERT_NE(add_plain(",name=hello"), nullptr);
  map_bar0();
  using namespace ivshmem;
  EXPECT_EQ(reg(kFeatures), kFeatureName);
  EXPECT_EQ(reg(kNameLength), 5u);
  EXPECT_EQ(reg(kName), 0x6c6c6568u);  // "hell"
  EXPECT_EQ(reg(kName + 4), 0x6fu);     // "o", NUL padded
  EXPECT_EQ(reg(kName + 60), 0u);
}

TEST_F(IvshmemPlainTest, name_too_long_or_unprintable) {
  add_backend("memory-backend-memfd,id=m,size=1M");
  EXPECT_EQ(add_device_error("ivshmem-plain,memdev=m,name=" + std::string(64, 'x')),
            "Parameter 'name' is longer than 63 characters");
  EXPECT_EQ(add_device_error(R"({"driver":"ivshmem-plain","memdev":"m","name":"a\tb"})"),
            "Parameter 'name' must be printable ASCII");
  EXPECT_EQ(add_device_error("ivshmem-plain,memdev=m,addr=7,name=" + std::string(63, 'x')), "(ok)");
}

TEST_F(IvshmemPlainTest, memdev_is_required) {
  EXPECT_EQ(add_device_error("ivshmem-plain"), "You must specify a 'memdev'");
  EXPECT_EQ(add_device_error("ivshmem-plain,memdev=nope"), "Device 'nope' not found");
  EXPECT_EQ(cfg_read(3 << 3, 0, 4), 0xffffffffu);  // nothing left on the bus
}

TEST_F(IvshmemPlainTest, busy_memdev_is_refused) {
  ASSERT_NE(add_plain(), nullptr);
  EXPECT_EQ(add_device_error("ivshmem-plain,memdev=m"), "can't use already busy memdev: m");
}

TEST_F(IvshmemPlainTest, memdev_in_use_cannot_be_deleted_until_the_device_goes) {
  IvshmemCommon* d = add_plain();
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(user_creatable_del("m").error().message(), "object 'm' is in use, can not be deleted");
  device_remove(*d);
  EXPECT_TRUE(user_creatable_del("m").ok());
}

TEST_F(IvshmemPlainTest, non_power_of_2_memdev_is_refused) {
  add_backend("memory-backend-memfd,id=m,size=3M");
  EXPECT_EQ(add_device_error("ivshmem-plain,memdev=m"),
            "memdev 'm' size 3145728 (3 MiB) is not a power of two: a PCI BAR must be");
  EXPECT_FALSE(static_cast<HostMemoryBackend*>(find_user_object("m"))->in_use());
  EXPECT_EQ(cfg_read(3 << 3, 0, 4), 0xffffffffu);
}

TEST_F(IvshmemPlainTest, share_off_warns_but_works) {
  ASSERT_NE(add_plain("", "size=1M,share=off"), nullptr);
  // One warning line, in QEMU's form, naming the backend (the wording is the device's to choose).
  ASSERT_EQ(g_log.size(), 1u);
  EXPECT_EQ(g_log[0].rfind("nahanni-system-x86_64: warning: ", 0), 0u) << g_log[0];
  EXPECT_NE(g_log[0].find("memdev 'm' has share=off"), std::string::npos) << g_log[0];
}

TEST_F(IvshmemPlainTest, share_on_does_not_warn) {
  ASSERT_NE(add_plain(), nullptr);
  EXPECT_TRUE(g_log.empty());
}

TEST_F(IvshmemPlainTest, help_lists_its_properties) {
  auto help = device_type_help("ivshmem-plain");
  ASSERT_TRUE(help.ok());
  EXPECT_EQ(help->rfind("ivshmem-plain options:\n", 0), 0u);
  EXPECT_NE(help->find("\n  addr=<int32>           - Slot and optional function number, example: 06.0 or 06 "
                       "(default: -1)\n"),
            std::string::npos);
  EXPECT_NE(help->find("\n  master=<OnOffAuto>     - on/off/auto (default: \"off\")\n"), std::string::npos);
  EXPECT_NE(help->find("\n  memdev=<link<memory-backend>>\n"), std::string::npos);
  EXPECT_NE(help->find("\n  multifunction=<bool>   - on/off (default: false)\n"), std::string::npos);
}

}  // namespace
}  // namespace nahanni::test
