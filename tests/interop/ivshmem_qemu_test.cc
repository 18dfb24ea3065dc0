// Our ivshmem-server and ivshmem-client with Debian's QEMU (7.2) as a peer: QEMU's
// ivshmem-doorbell connects to our server, gets its id (IVPosition) and our memory (BAR2),
// rings our client through the eventfds we sent it, and our client sees QEMU's eventfds.
// QEMU runs paused under TCG with a qtest socket, so the test can program and read the PCI
// device (Debian builds QEMU without the qtest accelerator).
// Exits 77 (meson: skipped) when qemu-system-x86_64 is not installed.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cstdio>

#include "../contrib/test-support.h"
#include "qemu-qtest.h"

namespace nahanni::ivshmem::test {
namespace {

std::string qemu_binary() { return binary("QEMU", ""); }


constexpr unsigned kDev = 4;                   // -device ...,addr=4
constexpr uint64_t kBar0 = 0xfe000000;         // registers
constexpr uint64_t kBar2 = 0xe0000000;         // shared memory (64-bit BAR)

TEST(IvshmemInterop, qemu_doorbell_device_is_a_peer_of_our_server_and_client) {
  TempDir dir;
  std::string sock = dir.file("ivshmem"), qtest_sock = dir.file("qtest");
  auto server = start_server(dir, sock, {"-n", "2"});
  ASSERT_TRUE(server);

  // Peer 0: in-process, to check the memory and ring QEMU.
  RawPeer ours(sock);
  ASSERT_TRUE(ours.pump_until([&] { return ours.session().ready() && ours.vectors_of(0) == 2; }));
  void* mem = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ours.shm_fd(), 0);
  ASSERT_NE(mem, MAP_FAILED);
  static_cast<volatile uint32_t*>(mem)[0] = 0x1a2b3c4d;

  // Peer 1: QEMU.
  auto qtest_listener = unix_listen(qtest_sock);
  ASSERT_TRUE(qtest_listener.ok());
  Subprocess qemu({qemu_binary(), "-accel", "tcg", "-S", "-qtest", "unix:" + qtest_sock, "-nodefaults", "-display",
                   "none", "-machine", "pc", "-chardev", "socket,path=" + sock + ",id=c", "-device",
                   "ivshmem-doorbell,chardev=c,vectors=2,addr=4"},
                  dir);
  pollfd p{qtest_listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1) << qemu.err();
  QemuQtest qt(UniqueFd(::accept4(qtest_listener->get(), nullptr, nullptr, SOCK_CLOEXEC)));

  auto ids = qt.config_read(kDev, 0);
  ASSERT_TRUE(ids);
  EXPECT_EQ(*ids, 0x11101af4u);  // QEMU's ivshmem
  ASSERT_TRUE(qt.config_write(kDev, 0x10, kBar0));
  ASSERT_TRUE(qt.config_write(kDev, 0x18, static_cast<uint32_t>(kBar2)));
  ASSERT_TRUE(qt.config_write(kDev, 0x1c, 0));
  ASSERT_TRUE(qt.config_write(kDev, 0x04, 0x2));  // memory space on

  // QEMU got id 1 from our server, and our memory.
  EXPECT_EQ(qt.command(fmt::format("readl {:#x}", kBar0 + 8)), 1u);
  EXPECT_EQ(qt.command(fmt::format("readl {:#x}", kBar2)), 0x1a2b3c4du);
  ASSERT_TRUE(qt.command(fmt::format("writel {:#x} 0x55667788", kBar2 + 4)));
  EXPECT_EQ(static_cast<volatile uint32_t*>(mem)[1], 0x55667788u);
  ::munmap(mem, 4096);

  // QEMU's eventfds reached us: it appears with its two vectors, and we can ring them.
  ASSERT_TRUE(ours.pump_until([&] { return ours.vectors_of(1) == 2; }));
  EXPECT_TRUE(ring(ours.vector_fd(1, 0)));

  // Our eventfds reached QEMU: its Doorbell register rings peer 0's vectors.
  ASSERT_TRUE(qt.command(fmt::format("writel {:#x} {:#x}", kBar0 + 12, (0u << 16) | 1)));
  EXPECT_TRUE(rung(ours.vector_fd(0, 1)));
  ASSERT_TRUE(qt.command(fmt::format("writel {:#x} {:#x}", kBar0 + 12, (0u << 16) | 0)));
  EXPECT_TRUE(rung(ours.vector_fd(0, 0)));

  // Our ivshmem-client sees QEMU as a peer and can ring all its vectors.
  Subprocess client({client_binary(), "-S", sock, "-e", "wait-peer 1 2; dump; int 1 all", "-t", "25"}, dir);
  EXPECT_EQ(client.wait(), 0) << client.err();
  EXPECT_EQ(client.out(), "our id = 2\n  vectors: 2\npeer id = 0\n  vectors: 2\npeer id = 1\n  vectors: 2\n");

  // And QEMU rings our client (peer 3). QEMU learns of peer 3 asynchronously, and ignores a
  // Doorbell write for a peer it does not know yet: ring until the client has heard one.
  Subprocess waiter({client_binary(), "-S", sock, "-w", "1", "-t", "25"}, dir);
  ASSERT_TRUE(ours.pump_until([&] { return ours.vectors_of(3) == 2; }));
  bool heard = eventually([&] {
    qt.command(fmt::format("writel {:#x} {:#x}", kBar0 + 12, (3u << 16) | 1));
    return !waiter.running();
  });
  EXPECT_TRUE(heard);
  EXPECT_EQ(waiter.wait(), 0) << waiter.err();
  EXPECT_EQ(waiter.out().rfind("notification on vector 1 (count ", 0), 0u) << waiter.out();

  // QEMU leaving is announced like any peer.
  qemu.signal(SIGTERM);
  qemu.wait();
  ASSERT_TRUE(ours.pump_until([&] {
    for (uint16_t id : ours.gone())
      if (id == 1) return true;
    return false;
  }));
  EXPECT_TRUE(ours.errors().empty());
}

// A peer that asks for more vectors (our extension) next to QEMU: QEMU keeps the vectors it
// has room for, reports the extra eventfd as QEMU does for any mismatch, and keeps working.
TEST(IvshmemInterop, qemu_tolerates_a_peer_with_more_vectors) {
  TempDir dir;
  std::string sock = dir.file("ivshmem"), qtest_sock = dir.file("qtest");
  auto server = start_server(dir, sock, {"-n", "1"});
  ASSERT_TRUE(server);
  auto qtest_listener = unix_listen(qtest_sock);
  ASSERT_TRUE(qtest_listener.ok());
  Subprocess qemu({qemu_binary(), "-accel", "tcg", "-S", "-qtest", "unix:" + qtest_sock, "-nodefaults", "-display",
                   "none", "-machine", "pc", "-chardev", "socket,path=" + sock + ",id=c", "-device",
                   "ivshmem-doorbell,chardev=c,vectors=1,addr=4"},
                  dir);
  pollfd p{qtest_listener->get(), POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 30000), 1) << qemu.err();
  QemuQtest qt(UniqueFd(::accept4(qtest_listener->get(), nullptr, nullptr, SOCK_CLOEXEC)));
  ASSERT_TRUE(qt.config_write(kDev, 0x10, kBar0));
  ASSERT_TRUE(qt.config_write(kDev, 0x04, 0x2));
  EXPECT_EQ(qt.command(fmt::format("readl {:#x}", kBar0 + 8)), 0u);

  Subprocess wide({client_binary(), "-S", sock, "--vectors", "2", "-e", "wait-peer 0 1; dump", "-w", "1", "-t", "25"},
                  dir);
  ASSERT_TRUE(eventually([&] { return server->err().find("peer 1 now has 2 vectors") != std::string::npos; }));
  bool heard = eventually([&] {
    qt.command(fmt::format("writel {:#x} {:#x}", kBar0 + 12, (1u << 16) | 0));
    return !wide.running();
  });
  EXPECT_TRUE(heard);
  EXPECT_EQ(wide.wait(), 0) << wide.err();
  EXPECT_EQ(wide.out().substr(0, wide.out().find("notification")),
            "our id = 1\n  vectors: 2\npeer id = 0\n  vectors: 1\n");
  EXPECT_TRUE(eventually([&] { return qemu.err().find("Too many eventfd received, device has 1 vectors") != std::string::npos; }))
      << qemu.err();
  EXPECT_TRUE(qemu.running());
  EXPECT_EQ(qt.command(fmt::format("readl {:#x}", kBar0 + 8)), 0u);
}

}  // namespace
}  // namespace nahanni::ivshmem::test

int main(int argc, char** argv) {
  std::string qemu = nahanni::ivshmem::test::qemu_binary();
  if (qemu.empty() || ::access(qemu.c_str(), X_OK) != 0) {
    std::printf("SKIP: qemu-system-x86_64 is not installed (Debian: apt install qemu-system-x86)\n");
    return 77;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
