// query-pci on the pc machine: the chipset functions and an ivshmem-plain, with its BARs as the
// test programs them (unassigned BARs report address -1, as QEMU's do).
#include <gtest/gtest.h>

#include "libqtest.h"
#include "pci.h"

namespace nahanni::qtest {
namespace {

TEST(QueryPci, lists_chipset_and_ivshmem_with_bars) {
  QTestState q("-machine pc -object memory-backend-memfd,id=mb1,size=1M -device ivshmem-plain,id=iv1,memdev=mb1,addr=5");
  auto reply = q.qmp(R"({"execute":"query-pci"})");
  ASSERT_TRUE(reply.contains("return")) << reply.dump();
  const auto& devices = reply["return"][0]["devices"];
  ASSERT_EQ(devices.size(), 4u);
  EXPECT_EQ(devices[0]["id"]["vendor"], 0x8086);
  EXPECT_EQ(devices[0]["id"]["device"], 0x1237);
  const auto& iv = devices[3];
  EXPECT_EQ(iv["slot"], 5);
  EXPECT_EQ(iv["qdev_id"], "iv1");
  EXPECT_EQ(iv["class_info"]["class"], 0x0500);
  EXPECT_EQ(iv["class_info"]["desc"], "RAM controller");
  EXPECT_EQ(iv["id"]["device"], 0x1110);
  EXPECT_EQ(iv["id"]["subsystem-vendor"], 0x1af4);
  EXPECT_EQ(iv["id"]["subsystem"], 0x1100);
  EXPECT_EQ(iv["irq_pin"], 0);
  ASSERT_EQ(iv["regions"].size(), 2u);
  EXPECT_EQ(iv["regions"][0], nlohmann::json::parse(
      R"({"bar":0,"type":"memory","address":-1,"size":256,"prefetch":false,"mem_type_64":false})"));
  EXPECT_EQ(iv["regions"][1], nlohmann::json::parse(
      R"({"bar":2,"type":"memory","address":-1,"size":1048576,"prefetch":true,"mem_type_64":true})"));

  PciBus bus(q);
  auto dev = bus.find(0x1af4, 0x1110);
  ASSERT_TRUE(dev);
  PciBar bar2 = dev->iomap(2);
  dev->enable();
  auto after = q.qmp(R"({"execute":"query-pci"})");
  EXPECT_EQ(after["return"][0]["devices"][3]["regions"][1]["address"], bar2.addr);
  EXPECT_TRUE(q.quit().success());
}

}  // namespace
}  // namespace nahanni::qtest
