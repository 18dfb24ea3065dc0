// Doorbell round trips between two peers, against the physical floor on the same machine: two
// processes ping-ponging a pair of eventfds directly. The doorbell paths:
//   client: ivshmem-client --ping against ivshmem-client --echo, through ivshmem-server;
//   qtest:  two nahanni emulators with ivshmem-doorbell (INTx) on one server; a qtest write to
//           A's Doorbell rings B, B's interrupt is seen as an "IRQ raise" line on B's qtest
//           socket, B acknowledges (reads IntrStatus) and rings A back the same way.
// The blocks alternate, round after round. A benchmark, never a test: it asserts nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench-report.h"
#include "libqtest.h"
#include "pci.h"

namespace {

using namespace nahanni::bench;
using nahanni::qtest::PciBar;
using nahanni::qtest::PciBus;
using nahanni::qtest::PciDevice;
using nahanni::qtest::QTestState;

// The floor: `count` round trips between this process and a child over two eventfds, in µs.
std::vector<double> floor_round_trips(int count) {
  int to_child = ::eventfd(0, EFD_CLOEXEC), to_parent = ::eventfd(0, EFD_CLOEXEC);
  std::vector<double> samples;
  pid_t pid = ::fork();
  if (pid == 0) {
    uint64_t v;
    for (int i = 0; i < count; ++i) {
      if (::read(to_child, &v, sizeof v) != sizeof v) ::_exit(1);
      v = 1;
      if (::write(to_parent, &v, sizeof v) != sizeof v) ::_exit(1);
    }
    ::_exit(0);
  }
  for (int i = 0; i < count; ++i) {
    uint64_t v = 1;
    auto start = Clock::now();
    if (::write(to_child, &v, sizeof v) != sizeof v) break;
    if (::read(to_parent, &v, sizeof v) != sizeof v) break;
    samples.push_back(us_since(start));
  }
  ::waitpid(pid, nullptr, 0);
  ::close(to_child);
  ::close(to_parent);
  return samples;
}

pid_t spawn(const std::vector<std::string>& args, const std::string& out_path) {
  ::unlink(out_path.c_str());  // a fresh log: waits must not see the last run's lines
  pid_t pid = ::fork();
  if (pid == 0) {
    int null = ::open("/dev/null", O_RDWR);
    int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(null, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}
void stop(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
}
std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
// Polls a file until it contains `needle` (a benchmark may poll; a test would not).
bool wait_for_text(const std::string& path, const std::string& needle) {
  for (int i = 0; i < 3000; ++i) {
    if (read_text(path).find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

struct Paths {
  std::string server, client, emulator, scratch, guest;
};

// ivshmem-server in the foreground, verbose, its memory an unlinked file.
pid_t start_server(const Paths& p, int vectors = 1) {
  ::unlink((p.scratch + "/sock").c_str());
  pid_t pid = spawn({p.server, "-F", "-v", "-S", p.scratch + "/sock", "-m", p.scratch, "-l", "1M", "-n",
                     std::to_string(vectors)},
                    p.scratch + "/server.log");
  if (!wait_for_text(p.scratch + "/server.log", "listening on")) {
    stop(pid);
    return -1;
  }
  return pid;
}

// Client to client: the echoing client connects first (peer 0), the pinger rings it.
std::vector<double> client_round_trips(const Paths& p, int count) {
  std::vector<double> samples;
  pid_t server = start_server(p);
  if (server < 0) return samples;
  pid_t echo = spawn({p.client, "-S", p.scratch + "/sock", "--echo"}, p.scratch + "/echo.log");
  if (wait_for_text(p.scratch + "/server.log", "peer 0 connected")) {
    std::string log = p.scratch + "/ping.txt";
    pid_t ping = spawn({p.client, "-S", p.scratch + "/sock", "--ping", "0", "--count", std::to_string(count),
                        "--ping-log", log, "-t", "120"},
                       p.scratch + "/ping.log");
    int status = 0;
    ::waitpid(ping, &status, 0);
    std::ifstream in(log);
    double ns;
    while (in >> ns) samples.push_back(ns / 1000);
    ::unlink(log.c_str());
  }
  stop(echo);
  stop(server);
  return samples;
}

// One emulator with an ivshmem-doorbell in slot 6, INTx (msi=off), its BAR0 mapped and its
// interrupt enabled, the IOAPIC's inputs intercepted over qtest.
class DoorbellEmulator {
 public:
  static constexpr int kSlot = 6;
  static constexpr int kGsi = 16 + (kSlot & 3);  // pc routing of slot 6, INTA
  static constexpr uint32_t kIntrMask = 0x00, kIntrStatus = 0x04, kIvPosition = 0x08, kDoorbell = 0x0c,
                            kState = 0x14, kPeerSelect = 0x18, kPeerVectors = 0x1c;

  explicit DoorbellEmulator(const std::string& socket)
      : qts_("-machine pc -nodefaults -chardev socket,path=" + socket +
             ",id=iv -device ivshmem-doorbell,chardev=iv,vectors=1,msi=off,ioeventfd=off,addr=6,id=iv0"),
        bus_(qts_),
        dev_(bus_.device_at(kSlot)) {
    bar0_ = dev_.iomap(0);
    dev_.enable();
    qts_.irq_intercept_in("ioapic");
    dev_.bar_writel(bar0_, kIntrMask, 1);
  }
  bool ready() { return dev_.bar_readl(bar0_, kState) == 3; }
  uint32_t id() { return dev_.bar_readl(bar0_, kIvPosition); }
  bool knows(uint32_t peer) {
    dev_.bar_writel(bar0_, kPeerSelect, peer);
    return dev_.bar_readl(bar0_, kPeerVectors) >= 1;
  }
  void ring(uint32_t peer) { dev_.bar_writel(bar0_, kDoorbell, peer << 16); }
  // Blocks until the line rises (an "IRQ raise" line on the qtest socket), then acknowledges.
  void wait_and_ack() {
    const std::string raise = "IRQ raise " + std::to_string(kGsi);
    while (qts_.next_line() != raise) {
    }
    dev_.bar_readl(bar0_, kIntrStatus);
  }

 private:
  QTestState qts_;
  PciBus bus_;
  PciDevice dev_;
  PciBar bar0_;
};

std::vector<double> qtest_round_trips(const Paths& p, int count) {
  std::vector<double> samples;
  pid_t server = start_server(p);
  if (server < 0) return samples;
  try {
    ::setenv("QTEST_QEMU_BINARY", p.emulator.c_str(), 1);
    DoorbellEmulator a(p.scratch + "/sock");
    DoorbellEmulator b(p.scratch + "/sock");
    uint32_t a_id = 0, b_id = 0;
    for (int i = 0; i < 5000; ++i) {  // eventfds arrive on the emulators' loops after realize
      if (a.ready() && b.ready()) {
        a_id = a.id(), b_id = b.id();
        if (a.knows(b_id) && b.knows(a_id)) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    for (int i = 0; i < count; ++i) {
      auto start = Clock::now();
      a.ring(b_id);
      b.wait_and_ack();
      b.ring(a_id);
      a.wait_and_ack();
      samples.push_back(us_since(start));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "doorbell-bench: qtest round trips: %s\n", e.what());
  }
  stop(server);
  return samples;
}

// KVM guest to KVM guest: two emulators with -accel kvm booting the PVH test guest, whose
// pingpong scenario rings and answers `rounds` times on vector 0 (MSI-X) and exits through
// isa-debug-exit. The guest cannot time single round trips; it prints a line when its sync
// with the peer is done and one when the rounds are. Both serial logs are polled: from both
// syncs seen to both "done" seen, divided by the rounds, is the mean round trip in µs (boot
// and exit left out). The second guest also gives the start-up figures: exec to its first
// serial byte, and its RSS once it has synced (booted, devices set up). Negative figures when
// a guest did not pass or a run hung (killed after 60 s).
struct KvmRun {
  double round_trip_us = -1;
  double first_serial_ms = -1;
  double rss_kib = -1;
};

off_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_size : 0;
}

double rss_kib(pid_t pid) {
  std::istringstream in(read_text("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  return -1;
}

KvmRun kvm_pingpong_run(const Paths& p, const std::string& emulator, int rounds) {
  KvmRun run;
  pid_t server = start_server(p, 4);
  if (server < 0) return run;
  auto serial = [&](const std::string& name) { return p.scratch + "/" + name + ".serial"; };
  auto vm = [&](const std::string& name, const std::string& cmdline) {
    ::unlink(serial(name).c_str());
    return spawn({emulator, "-machine", "pc", "-accel", "kvm", "-m", "64", "-display", "none", "-nodefaults",
                  "-no-reboot", "-kernel", p.guest, "-append", cmdline, "-chardev",
                  "file,id=serial0,path=" + serial(name), "-serial", "chardev:serial0", "-device",
                  "isa-debug-exit,iobase=0xf4,iosize=0x04", "-chardev", "socket,id=ivs,path=" + p.scratch + "/sock",
                  "-device", "ivshmem-doorbell,id=iv0,chardev=ivs,vectors=4"},
                 p.scratch + "/" + name + ".log");
  };
  const std::string steps = "watchdog=300 pingpong rounds=" + std::to_string(rounds) + " vector=0 peer=";
  const std::string done = "rounds " + std::to_string(rounds) + " done";
  pid_t vm0 = vm("vm0", steps + "1 initiator");
  pid_t vm1 = -1;
  double us = -1;
  if (wait_for_text(p.scratch + "/server.log", "peer 0 connected")) {  // ids follow start order
    auto began = Clock::now();
    vm1 = vm("vm1", steps + "0");
    auto both_show = [&](const std::string& needle) {
      return read_text(serial("vm0")).find(needle) != std::string::npos &&
             read_text(serial("vm1")).find(needle) != std::string::npos;
    };
    std::optional<Clock::time_point> synced;
    while (ms_since(began) < 60000) {
      if (run.first_serial_ms < 0 && file_size(serial("vm1")) > 0) run.first_serial_ms = ms_since(began);
      if (!synced && both_show("guest: sync with peer")) {
        synced = Clock::now();
        run.rss_kib = rss_kib(vm1);
      }
      if (synced && both_show(done)) {
        us = std::chrono::duration<double, std::micro>(Clock::now() - *synced).count() / rounds;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    // Both must then exit with the guest's PASS (isa-debug-exit: status 33).
    for (pid_t* pid : {&vm0, &vm1}) {
      int status = -1;
      while (::waitpid(*pid, &status, WNOHANG) == 0 && ms_since(began) < 60000) {
        status = -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (status != -1) *pid = -1;  // reaped
      if (!(status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 33)) us = -1;
    }
  }
  if (us > 0) run.round_trip_us = us;
  else run = KvmRun{};
  for (pid_t pid : {vm0, vm1})
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  stop(server);
  for (const char* f : {"vm0.serial", "vm1.serial", "vm0.log", "vm1.log"}) ::unlink((p.scratch + "/" + f).c_str());
  return run;
}

void add(std::vector<double>& rtt, std::vector<double>& first, std::vector<double>& rss, const KvmRun& run) {
  if (run.round_trip_us > 0) rtt.push_back(run.round_trip_us);
  if (run.first_serial_ms > 0) first.push_back(run.first_serial_ms);
  if (run.rss_kib > 0) rss.push_back(run.rss_kib);
}

// Round trips per second from round-trip times in µs.
std::vector<double> per_second(const std::vector<double>& us) {
  std::vector<double> rates;
  for (double u : us) rates.push_back(1e6 / u);
  return rates;
}

void append(std::vector<double>& to, const std::vector<double>& from) { to.insert(to.end(), from.begin(), from.end()); }

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: doorbell-bench EMULATOR IVSHMEM-SERVER IVSHMEM-CLIENT [ROUND-TRIPS [DATA-DIR [GUEST-ELF [QEMU]]]]\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  char tmpl[] = "/tmp/nn-doorbell-bench.XXXXXX";
  if (!::mkdtemp(tmpl)) return 1;
  Paths paths{argv[2], argv[3], argv[1], tmpl, argc > 6 ? argv[6] : ""};
  std::string qemu = argc > 7 ? argv[7] : "";
  int count = argc > 4 ? std::atoi(argv[4]) : 2000;
  std::string data = argc > 5 ? argv[5] : "";
  constexpr int kRounds = 5;
  int per_round = std::max(1, count / kRounds);

  std::vector<double> floor, client, qtest;
  for (int round = 0; round < kRounds; ++round) {  // alternating blocks on the same machine
    append(floor, floor_round_trips(per_round));
    append(client, client_round_trips(paths, per_round));
    append(qtest, qtest_round_trips(paths, per_round));
  }
  // KVM: five 200-round pingpong runs each for nahanni and QEMU, alternately; each run is timed
  // from both guests' sync line to both "done" lines (kvm_pingpong_run), so boot and exit are left out.
  std::vector<double> kvm, kvm_qemu, first_serial, first_serial_qemu, rss, rss_qemu;
  std::string kvm_note;
  if (paths.guest.empty()) {
    kvm_note = "no test guest built (tests/guest/guest.elf)";
  } else if (::access("/dev/kvm", R_OK | W_OK) != 0) {
    kvm_note = "/dev/kvm is not available";
  } else {
    constexpr int kRounds = 200, kRuns = 5;  // 5 runs: enough for an interquartile range
    for (int run = 0; run < kRuns; ++run) {  // nahanni and QEMU alternately
      add(kvm, first_serial, rss, kvm_pingpong_run(paths, paths.emulator, kRounds));
      if (!qemu.empty()) add(kvm_qemu, first_serial_qemu, rss_qemu, kvm_pingpong_run(paths, qemu, kRounds));
    }
    kvm_note = std::to_string(kRuns) + " runs of " + std::to_string(kRounds) + " rounds";
    if (kvm.empty()) kvm_note += "; no pair passed";
  }
  print_table_header();
  {
    char value[32], spread[32];
    std::snprintf(value, sizeof value, "%.1f µs", median(floor));
    std::snprintf(spread, sizeof spread, "%.1f µs", iqr(floor));
    print_single_row("floor: eventfd round trip between two processes", value, std::to_string(floor.size()),
                     spread);
  }
  print_pair_row("doorbell round trip, ivshmem-client to ivshmem-client via the server; peer: floor", "%.1f µs",
                 client, floor);
  print_pair_row("doorbell round trip, nahanni to nahanni (qtest write, INTx seen over qtest, ack, ring back); "
                 "peer: floor",
                 "%.1f µs", qtest, floor);
  if (!kvm.empty())
    print_pair_row("doorbell round trip, test guest to test guest under nahanni -accel kvm (pingpong, MSI-X; mean "
                   "per run, " + kvm_note + "); peer: floor",
                   "%.1f µs", kvm, floor);
  if (!kvm.empty() && !kvm_qemu.empty()) {
    print_pair_row("doorbell round trip, test guest to test guest under KVM, the same runs; peer: QEMU 7.2 -accel kvm "
                   "(same guest, devices and server)",
                   "%.1f µs", kvm, kvm_qemu);
    print_pair_row("doorbell round trips per second, test guest to test guest under KVM (the same runs, as a rate; "
                   "higher is better); peer: QEMU 7.2 -accel kvm",
                   "%.0f /s", per_second(kvm), per_second(kvm_qemu));
  }
  if (!first_serial.empty() && !first_serial_qemu.empty())
    print_pair_row("test guest under KVM: exec to the guest's first serial byte (QEMU runs SeaBIOS first; nahanni "
                   "has no firmware); peer: QEMU 7.2 -accel kvm",
                   "%.1f ms", first_serial, first_serial_qemu);
  if (!rss.empty() && !rss_qemu.empty())
    print_pair_row("test guest under KVM: emulator RSS once the guest has booted and synced with its peer (-m 64, "
                   "ivshmem-doorbell 4 vectors); peer: QEMU 7.2 -accel kvm",
                   "%.0f KiB", rss, rss_qemu);
  if (kvm.empty())
    std::printf("| doorbell round trip, test guest to test guest under nahanni -accel kvm | not measured: %s | — | — "
                "| — | — |\n", kvm_note.c_str());
  for (auto& [name, v] : {std::pair<const char*, std::vector<double>*>{"floor", &floor}, {"client", &client},
                          {"qtest", &qtest}}) {
    std::printf("\n%s round trips: p99 %.1f µs, max %.1f µs", name, percentile(*v, 0.99),
                v->empty() ? -1.0 : percentile(*v, 1.0));
    if (!data.empty()) write_samples(data + "/rtt-" + name + ".txt", *v);
  }
  std::printf("\n");
  for (const char* f : {"server.log", "echo.log", "ping.log", "sock"}) ::unlink((paths.scratch + "/" + f).c_str());
  ::rmdir(paths.scratch.c_str());
  return 0;
}
