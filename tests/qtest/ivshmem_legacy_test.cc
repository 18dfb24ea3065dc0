// The legacy `ivshmem` shim (issue #4): each old way of giving the memory (shm=, memdev=,
// chardev=) and the old role/use64 spellings, mapped onto the new devices with the old guest
// interface (revision 0, device 1110, INTA); the one deprecation warning naming the
// replacement; warnings for properties the old device ignored; the old shm= semantics.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "ivshmem_test_support.h"
#include "libqtest.h"
#include "pci.h"

namespace nahanni::qtest {
namespace {

using namespace ivtest;

constexpr int kSlot = 4;
constexpr uint16_t kStatusInterrupt = 0x08;

std::string deprecation(const std::string& option, const std::string& replacement) {
  return fmt::format(
      "nahanni-system-x86_64: {}: warning: ivshmem is deprecated, please use ivshmem-plain or ivshmem-doorbell "
      "instead: {}\n",
      option, replacement);
}
std::string ignored(const std::string& option, const std::string& property, const std::string& mode) {
  return fmt::format("nahanni-system-x86_64: {}: warning: ivshmem: '{}' has no effect with '{}' and is ignored\n",
                     option, property, mode);
}

// Unlinks /dev/shm/NAME at the end of the test, whoever created it.
struct ShmName {
  explicit ShmName(std::string n) : name(std::move(n)), path("/dev/shm/" + name) {}
  ~ShmName() { ::unlink(path.c_str()); }
  std::string name, path;
};

int64_t file_size(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

// Reads the file as another process sharing the object would.
uint32_t file_u32(const std::string& path, off_t off) {
  uint32_t v = 0;
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd || ::pread(fd.get(), &v, sizeof v, off) != sizeof v) return 0xffffffff;
  return v;  // little endian host
}

// Checks the old guest interface and returns the mapped BARs.
struct LegacyDevice {
  explicit LegacyDevice(QTestState& q) : bus(q), dev(bus.device_at(kSlot)) {}
  void expect_legacy_identity(bool intx) {
    EXPECT_EQ(dev.vendor_id(), kVendor);
    EXPECT_EQ(dev.device_id(), kDevice);
    EXPECT_EQ(dev.config_readb(kCfgRevision), 0);
    EXPECT_EQ(dev.config_readw(kCfgClass), 0x0500);
    EXPECT_EQ(dev.config_readb(kCfgIntPin), 1);  // INTA
    EXPECT_EQ(dev.find_capability(pci::kCapIdMsix) == 0, intx);
  }
  void map() {
    bar0 = dev.iomap(0);
    bar2 = dev.iomap(2);
    dev.enable();
  }
  PciBus bus;
  PciDevice dev;
  PciBar bar0, bar2;
};

TEST(IvshmemLegacy, shm_creates_the_object_with_size_and_keeps_the_old_abi) {
  ShmName shm(unique_name("nahanni-ivlegacy"));
  std::string option = fmt::format("-device ivshmem,id=iv1,shm={},size=1M,addr={}", shm.name, kSlot);
  QTestState q("-machine pc " + option);
  EXPECT_EQ(file_size(shm.path), 1 << 20);
  LegacyDevice d(q);
  d.expect_legacy_identity(true);
  d.map();
  EXPECT_EQ(d.bar0.size, 256u);
  EXPECT_EQ(d.bar2.size, 1u << 20);
  EXPECT_EQ(d.dev.config_readl(cfg_bar(2)) & 0xf, 0xcu);  // use64 defaults to 1

  // Revision 0: the revision-2 range is reserved and reads 0.
  for (uint32_t off : {kFeatures, kState, kNameLength}) EXPECT_EQ(d.dev.bar_readl(d.bar0, off), 0u) << off;
  // INTx through IntrStatus/IntrMask: the status register's interrupt bit follows the pin.
  d.dev.bar_writel(d.bar0, kIntrMask, 1);
  d.dev.bar_writel(d.bar0, kIntrStatus, 1);
  EXPECT_EQ(d.dev.config_readw(pci::kStatus) & kStatusInterrupt, kStatusInterrupt);
  EXPECT_EQ(d.dev.bar_readl(d.bar0, kIntrStatus), 1u);  // reading acknowledges
  EXPECT_EQ(d.dev.config_readw(pci::kStatus) & kStatusInterrupt, 0);

  // The memory is the shm object's.
  d.dev.bar_writel(d.bar2, 0x100, 0xc0ffee11);
  EXPECT_EQ(file_u32(shm.path, 0x100), 0xc0ffee11u);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err, deprecation(option, fmt::format("-object memory-backend-file,id=ID,size=1M,share=on,"
                                                             "mem-path=/dev/shm/{} -device ivshmem-plain,memdev=ID",
                                                             shm.name)));
}

TEST(IvshmemLegacy, shm_opens_an_existing_bigger_object) {
  ShmFile existing(unique_name("nahanni-ivlegacy"), 2u << 20);
  existing.host()[0x10] = 0x5a;
  std::string option = fmt::format("-device ivshmem,shm={},size=1,addr={}", existing.name(), kSlot);  // 1 MiB
  QTestState q("-machine pc " + option);
  LegacyDevice d(q);
  d.map();
  EXPECT_EQ(d.bar2.size, 1u << 20);
  EXPECT_EQ(d.dev.bar_readb(d.bar2, 0x10), 0x5a);
  d.dev.bar_writeb(d.bar2, 0x11, 0xa5);
  EXPECT_EQ(existing.host()[0x11], 0xa5);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(file_size(existing.path()), 2 << 20);  // left as it was
  EXPECT_EQ(err, deprecation(option, fmt::format("-object memory-backend-file,id=ID,size=1,share=on,"
                                                             "mem-path=/dev/shm/{} -device ivshmem-plain,memdev=ID",
                                                             existing.name())));
}

TEST(IvshmemLegacy, shm_refuses_a_smaller_existing_object) {
  ShmFile existing(unique_name("nahanni-ivlegacy"), 512u << 10);
  std::string option = fmt::format("-device ivshmem,shm={},size=1M", existing.name());
  RunResult r = run_emulator("-nodefaults -display none -machine pc -accel qtest -S " + option, 20s);
  EXPECT_EQ(r.status, (ExitStatus{.exited = true, .code = 1}));
  EXPECT_EQ(r.err, deprecation(option, fmt::format("-object memory-backend-file,id=ID,size=1M,share=on,"
                                                   "mem-path=/dev/shm/{} -device ivshmem-plain,memdev=ID",
                                                   existing.name())) +
                       fmt::format("nahanni-system-x86_64: {}: shared memory object {} is smaller than size 1 MiB\n",
                                   option, existing.name()));
  EXPECT_EQ(file_size(existing.path()), 512 << 10);
}

TEST(IvshmemLegacy, memdev_maps_to_ivshmem_plain_and_warns_about_ignored_properties) {
  std::string option = fmt::format("-device ivshmem,memdev=m,size=2M,vectors=2,msi=off,ioeventfd=on,addr={}", kSlot);
  QTestState q("-machine pc -object memory-backend-memfd,id=m,size=1M,share=on " + option);
  LegacyDevice d(q);
  d.expect_legacy_identity(true);
  d.map();
  EXPECT_EQ(d.bar2.size, 1u << 20);  // the backend's size, not size=
  d.dev.bar_writel(d.bar2, 0xffffc, 0x600dcafe);
  EXPECT_EQ(d.dev.bar_readl(d.bar2, 0xffffc), 0x600dcafeu);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err, deprecation(option, "-device ivshmem-plain,memdev=m") +
                                 ignored(option, "vectors", "memdev") + ignored(option, "ioeventfd", "memdev") +
                                 ignored(option, "msi", "memdev") + ignored(option, "size", "memdev"));
}

TEST(IvshmemLegacy, shm_warns_about_interrupt_properties) {
  ShmName shm(unique_name("nahanni-ivlegacy"));
  std::string option = fmt::format("-device ivshmem,shm={},size=1M,vectors=4,msi=on,addr={}", shm.name, kSlot);
  QTestState q("-machine pc " + option);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err,
            deprecation(option, fmt::format("-object memory-backend-file,id=ID,size=1M,share=on,mem-path=/dev/shm/{} "
                                            "-device ivshmem-plain,memdev=ID",
                                            shm.name)) +
                ignored(option, "vectors", "shm") + ignored(option, "msi", "shm"));
}

TEST(IvshmemLegacy, use64_0_gives_a_32_bit_bar2) {
  std::string option = fmt::format("-device ivshmem,memdev=m,use64=0,addr={}", kSlot);
  QTestState q("-machine pc -object memory-backend-memfd,id=m,size=1M,share=on " + option);
  LegacyDevice d(q);
  EXPECT_EQ(d.dev.config_readl(cfg_bar(2)) & 0xf, 0x8u);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err, deprecation(option, "-device ivshmem-plain,memdev=m"));
}

TEST(IvshmemLegacy, role_master_and_peer_are_accepted_with_memdev) {
  for (const char* role : {"master", "peer"}) {
    std::string option = fmt::format("-device ivshmem,memdev=m,role={},addr={}", role, kSlot);
    QTestState q("-machine pc -object memory-backend-memfd,id=m,size=1M,share=on " + option);
    LegacyDevice d(q);
    EXPECT_EQ(d.dev.device_id(), kDevice);
    std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
    EXPECT_TRUE(q.quit().success());
    EXPECT_EQ(err, deprecation(option, "-device ivshmem-plain,memdev=m")) << role;
  }
}

class IvshmemLegacyServer : public testing::Test {
 protected:
  void SetUp() override {
    if (!server_available()) GTEST_SKIP() << "no ivshmem-server at " << server_binary();
    server_.emplace(dir_, 1);
    ASSERT_TRUE(server_->up()) << server_->log();
  }
  std::string chardev(const std::string& id) const {
    return fmt::format("-chardev socket,id={},path={}", id, server_->socket());
  }
  TempDir dir_{"nn-ivlegacy"};
  std::optional<Server> server_;
};

TEST_F(IvshmemLegacyServer, chardev_maps_to_ivshmem_doorbell_with_msix) {
  std::string option = fmt::format("-device ivshmem,chardev=c,size=1M,addr={}", kSlot);
  QTestState q("-machine pc " + chardev("c") + " " + option);
  LegacyDevice d(q);
  d.expect_legacy_identity(false);
  EXPECT_EQ(d.dev.config_readb(kCfgIntPin), 1);
  d.map();
  EXPECT_EQ(d.bar2.size, 1u << 20);
  EXPECT_EQ(d.dev.bar_readl(d.bar0, kIvPosition), 0u);  // the server's first client
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err, deprecation(option, "-device ivshmem-doorbell,chardev=c,vectors=1"));
}

TEST_F(IvshmemLegacyServer, chardev_with_msi_off_uses_intx) {
  std::string option = fmt::format("-device ivshmem,chardev=c,size=1M,msi=off,addr={}", kSlot);
  QTestState q("-machine pc " + chardev("c") + " " + option);
  LegacyDevice d(q);
  d.expect_legacy_identity(true);
  d.map();
  EXPECT_EQ(d.bar2.size, 1u << 20);
  EXPECT_EQ(d.dev.bar_readl(d.bar0, kIvPosition), 0u);
  std::string err = q.stderr_text();  // before quit() adds "terminating on signal 15"
  EXPECT_TRUE(q.quit().success());
  EXPECT_EQ(err, deprecation(option, "-device ivshmem-doorbell,chardev=c,vectors=1,msi=off,ioeventfd=off"));
}

TEST_F(IvshmemLegacyServer, role_master_must_be_the_first_client_and_peer_may_follow) {
  std::string first = fmt::format("-device ivshmem,chardev=c,size=1M,role=peer,addr={}", kSlot);
  QTestState q1("-machine pc " + chardev("c") + " " + first);
  EXPECT_EQ(LegacyDevice(q1).dev.device_id(), kDevice);
  std::string master = "-device ivshmem,chardev=c,size=1M,role=master";
  RunResult r = run_emulator("-nodefaults -display none -machine pc -accel qtest -S " + chardev("c") + " " + master, 20s);
  EXPECT_EQ(r.status, (ExitStatus{.exited = true, .code = 1}));
  EXPECT_EQ(r.err, deprecation(master, "-device ivshmem-doorbell,chardev=c,vectors=1") +
                       fmt::format("nahanni-system-x86_64: {}: master must connect to the server before any peers\n",
                                   master));
  EXPECT_TRUE(q1.quit().success());
}

}  // namespace
}  // namespace nahanni::qtest
