// The README's demo: an ivshmem-server and two emulators, each with an ivshmem-plain device on
// one shared file and an ivshmem-doorbell device on the server. The emulators run under the
// qtest accelerator, so this program plays both guests' drivers: it maps the BARs, writes and
// reads shared memory, and rings doorbells, printing what each side sees.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>

#include "libqtest.h"
#include "pci.h"

using namespace nahanni::qtest;

namespace {

constexpr uint16_t kVendor = 0x1af4, kPlainId = 0x1110, kDoorbellId = 0x1111;
constexpr uint32_t kIvPosition = 0x08, kDoorbell = 0x0c, kState = 0x14, kPeerCount = 0x28, kRung = 0x20;

struct Guest {
  std::string name;
  QTestState vm;
  PciBus bus{vm};
  PciDevice plain;
  PciDevice doorbell;
  PciBar plain_mem, door_regs, door_mem;

  Guest(std::string n, const std::string& args)
      : name(std::move(n)), vm(args), plain(*bus.find(kVendor, kPlainId)), doorbell(*bus.find(kVendor, kDoorbellId)) {
    plain_mem = plain.iomap(2);
    plain.enable();
    door_regs = doorbell.iomap(0);
    door_mem = doorbell.iomap(2);
    doorbell.msix_enable();
    doorbell.enable();
  }
  uint32_t reg(uint32_t off) { return doorbell.bar_readl(door_regs, off); }
  void write_text(const PciBar& bar, const std::string& text) {
    vm.memwrite(bar.addr, std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size() + 1));
  }
  std::string read_text(const PciBar& bar) {
    auto bytes = vm.memread(bar.addr, 64);
    return std::string(reinterpret_cast<const char*>(bytes.data()));
  }
};

bool wait_for(const std::function<bool()>& cond) {
  for (int i = 0; i < 500; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

int fail(const char* what) {
  std::fprintf(stderr, "demo: %s\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail("usage: ivshmem-demo PATH-TO-ivshmem-server");
  std::string dir = std::filesystem::temp_directory_path() / ("nahanni-demo-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::string socket = dir + "/ivshmem.sock";
  std::string shm_file = dir + "/plain.mem";

  std::printf("== starting ivshmem-server (1 MiB, 2 vectors) on %s\n", socket.c_str());
  ChildProcess server = ChildProcess::spawn(std::string(argv[1]) + " -F -S " + socket + " -l 1M -n 2");
  if (!wait_for([&] { return std::filesystem::exists(socket); })) return fail("the server did not start");

  std::string args = "-machine pc -object memory-backend-file,id=relay,size=1M,share=on,mem-path=" + shm_file +
                     " -device ivshmem-plain,memdev=relay,name=frame-relay"
                     " -chardev socket,id=ivs,path=" + socket + " -device ivshmem-doorbell,id=bell,chardev=ivs,vectors=2";
  int status = 0;
  {
    std::printf("== starting two emulators: nahanni-system-x86_64 %s\n", args.c_str());
    Guest a("VM A", args), b("VM B", args);
    if (!wait_for([&] { return (a.reg(kState) & 1) && (b.reg(kState) & 1) && a.reg(kPeerCount) == 1; }))
      return fail("the doorbell setup did not complete");
    std::printf("   VM A: IVPosition %u, peers %u    VM B: IVPosition %u, peers %u\n", a.reg(kIvPosition),
                a.reg(kPeerCount), b.reg(kIvPosition), b.reg(kPeerCount));

    std::printf("== shared memory (ivshmem-plain, one file for both)\n");
    a.write_text(a.plain_mem, "hello from VM A");
    std::printf("   VM A wrote \"hello from VM A\"; VM B reads \"%s\"\n", b.read_text(b.plain_mem).c_str());
    b.write_text(b.plain_mem, "and hello back from VM B");
    std::printf("   VM B wrote a reply; VM A reads \"%s\"\n", a.read_text(a.plain_mem).c_str());
    int fd = ::open(shm_file.c_str(), O_RDONLY | O_CLOEXEC);
    char host[64] = {};
    if (fd < 0 || ::pread(fd, host, sizeof host - 1, 0) < 0) status = 1;
    if (fd >= 0) ::close(fd);
    std::printf("   the host reads the file %s: \"%s\"\n", shm_file.c_str(), host);

    std::printf("== doorbells (ivshmem-doorbell, through the server's eventfds)\n");
    uint32_t b_id = b.reg(kIvPosition), a_id = a.reg(kIvPosition);
    b.reg(kRung);  // clear
    a.doorbell.bar_writel(a.door_regs, kDoorbell, b_id << 16 | 1);
    bool rang = wait_for([&] { return b.doorbell.msix_pending(1); });
    std::printf("   VM A rang VM B on vector 1: VM B's MSI-X vector 1 is %s\n", rang ? "pending" : "NOT pending");
    b.doorbell.bar_writel(b.door_regs, kDoorbell, a_id << 16 | 0);
    bool back = wait_for([&] { return a.doorbell.msix_pending(0); });
    std::printf("   VM B rang VM A on vector 0: VM A's MSI-X vector 0 is %s\n", back ? "pending" : "NOT pending");
    auto st = a.vm.qmp(R"({"execute":"qom-get","arguments":{"path":"/machine/peripheral/bell","property":"status"}})");
    std::printf("   QMP qom-get status of VM A's doorbell: %s\n", st["return"].dump().c_str());
    if (!rang || !back || std::string(host).empty()) status = 1;
    a.vm.quit();
    b.vm.quit();
  }
  server.terminate(std::chrono::seconds(5));
  std::filesystem::remove_all(dir);
  std::printf(status == 0 ? "== demo passed\n" : "== demo FAILED\n");
  return status;
}
