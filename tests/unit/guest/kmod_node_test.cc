// Host-side tests of the guest library's kernel-module path (guest/linux/kmod-node.h): how a
// function bound to nahanni_ivshmem is recognised and its node found, and the errors when
// something is missing. The node itself needs the module: the Linux end-to-end tests
// (tests/interop/linux-kmod) exercise it.
#include <gtest/gtest.h>

#include <filesystem>

#include "fake-sysfs.h"
#include "interrupt-backend.h"
#include "ivshmem-device.h"
#include "kmod-node.h"

namespace nahanni::guest {
namespace {

using test::FakeSysfs;

TEST(KmodNode, RefusesAFunctionNotBoundToTheModule) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:03.0", .driver = "uio_pci_generic"});
  auto fn = read_pci_function(fs.root(), "0000:00:03.0");
  ASSERT_TRUE(fn.ok());
  auto node = KmodNode::open(*fn);
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.error().message().find("is not bound to nahanni_ivshmem (driver: uio_pci_generic)"),
            std::string::npos)
      << node.error().message();
}

TEST(KmodNode, BoundFunctionIsOpenedThroughItsMiscNode) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:04.0", .driver = kKmodDriverName});
  auto fn = read_pci_function(fs.root(), "0000:00:04.0");
  ASSERT_TRUE(fn.ok());
  EXPECT_EQ(fn->driver, kKmodDriverName);

  // Bound, but the node's sysfs folder is missing: say where we looked.
  auto dev = IvshmemDevice::open(*fn);
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message().find(fs.dir("0000:00:04.0") + "/misc"), std::string::npos)
      << dev.error().message();

  // With misc/ivshmemN the device is opened through /dev/ivshmemN (absent on this host),
  // never through the sysfs resource files, which the kernel refuses while the module owns them.
  std::filesystem::create_directories(fs.dir("0000:00:04.0") + "/misc/ivshmem917");
  dev = IvshmemDevice::open(*fn);
  ASSERT_FALSE(dev.ok());
  EXPECT_NE(dev.error().message().find("cannot open /dev/ivshmem917"), std::string::npos)
      << dev.error().message();
}

TEST(KmodNode, KmodBackendNeedsTheModule) {
  FakeSysfs fs;
  fs.add({.bdf = "0000:00:05.0", .device = 0x1111, .revision = 2, .interrupt_pin = 1, .irq = 10});
  auto dev = IvshmemDevice::open(*read_pci_function(fs.root(), "0000:00:05.0"));
  ASSERT_TRUE(dev.ok()) << dev.error().message();
  EXPECT_EQ(dev->kmod(), nullptr);
  EXPECT_TRUE(dev->registers_mapped());
  auto backend = open_interrupt_backend(*dev, "kmod");
  ASSERT_FALSE(backend.ok());
  EXPECT_NE(backend.error().message().find("is not bound to nahanni_ivshmem (modprobe nahanni_ivshmem"),
            std::string::npos)
      << backend.error().message();
  // Without the module, ringing still goes through the mapped registers.
  EXPECT_TRUE(dev->ring(2, 1).ok());
  EXPECT_EQ(dev->registers().read(IvshmemRegisters::kDoorbell), (2u << 16) | 1u);
}

}  // namespace
}  // namespace nahanni::guest
