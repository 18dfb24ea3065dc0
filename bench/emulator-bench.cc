// nahanni-system-x86_64 against Debian's QEMU 7.2, both paused (-S) on the pc machine with the
// same devices, started alternately: exec to the QMP greeting and to a clean exit after "quit";
// RSS and open descriptors after start with 1, 8 and 64 ivshmem-plain devices; device_add /
// device_del cycles per second, each unplug completed by the ACPI eject a guest would do. A
// benchmark, never a test: it prints figures and asserts nothing.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "bench-report.h"

namespace {

using namespace nahanni::bench;

constexpr int kPatienceMs = 30000;  // bound for waits that only run out when something broke

// Which emulator, and the flags that differ: Debian builds QEMU without the qtest accelerator,
// so it runs under TCG; both are paused with -S, so no guest code runs in either.
struct Emulator {
  std::string binary;
  bool is_qemu;
};

std::vector<std::string> base_args(const Emulator& emu) {
  return {emu.binary, "-machine", "pc", "-nodefaults", "-display", "none", "-S", "-qmp", "stdio",
          "-accel", emu.is_qemu ? "tcg" : "qtest"};
}

// `count` ivshmem-plain devices, each on its own 4 MiB memfd backend, eight functions to a slot
// from slot 3 on (the pc machine has fewer than 64 free slots).
void add_plain_devices(std::vector<std::string>& args, int count) {
  for (int i = 0; i < count; ++i) {
    int slot = 3 + i / 8, fn = i % 8;
    args.push_back("-object");
    args.push_back("memory-backend-memfd,id=m" + std::to_string(i) + ",size=4M,share=on");
    args.push_back("-device");
    args.push_back("ivshmem-plain,memdev=m" + std::to_string(i) + ",addr=" + std::to_string(slot) + "." +
                   std::to_string(fn) + (fn == 0 ? ",multifunction=on" : ""));
  }
}

// A started emulator with QMP on a pipe pair, optionally a qtest socket it connected to.
class Instance {
 public:
  Instance(std::vector<std::string> args, const std::string& qtest_path = "") {
    int listener = -1;
    if (!qtest_path.empty()) {
      listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      std::strncpy(addr.sun_path, qtest_path.c_str(), sizeof addr.sun_path - 1);
      ::unlink(qtest_path.c_str());
      if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(listener, 1) < 0) {
        std::fprintf(stderr, "emulator-bench: cannot listen on %s\n", qtest_path.c_str());
        std::exit(1);
      }
      args.push_back("-qtest");
      args.push_back("unix:" + qtest_path);
    }
    int to_child[2], from_child[2];
    if (::pipe2(to_child, O_CLOEXEC) < 0 || ::pipe2(from_child, O_CLOEXEC) < 0) std::exit(1);
    start_ = Clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(to_child[0], 0);
      ::dup2(from_child[1], 1);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 2);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execvp(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(to_child[0]);
    ::close(from_child[1]);
    qmp_in_ = to_child[1];
    qmp_out_ = from_child[0];
    if (listener >= 0) {
      pollfd p{listener, POLLIN, 0};
      if (::poll(&p, 1, kPatienceMs) == 1) qtest_ = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      ::close(listener);
      ::unlink(qtest_path.c_str());
    }
  }
  ~Instance() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    ::close(qmp_in_);
    ::close(qmp_out_);
    if (qtest_ >= 0) ::close(qtest_);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  pid_t pid() const { return pid_; }
  Clock::time_point started() const { return start_; }
  bool qtest_connected() const { return qtest_ >= 0; }

  // The next QMP line (a whole JSON message: both emulators print one per line), "" on EOF.
  std::string qmp_line() { return read_line(qmp_out_, qmp_buf_); }

  // Sends a command; returns its reply line, keeping events that came first.
  std::string qmp(const std::string& json) {
    std::string line = json + "\n";
    if (::write(qmp_in_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return "";
    while (true) {
      std::string reply = qmp_line();
      if (reply.empty()) return "";
      if (reply.find("\"event\"") != std::string::npos) {
        events_.push_back(reply);
        continue;
      }
      return reply;
    }
  }
  bool qmp_ok(const std::string& json) { return qmp(json).find("\"return\"") != std::string::npos; }

  // Waits for an event line containing `needle` (kept or new).
  bool wait_event(const std::string& needle) {
    for (size_t i = 0; i < events_.size(); ++i)
      if (events_[i].find(needle) != std::string::npos) {
        events_.erase(events_.begin() + static_cast<long>(i));
        return true;
      }
    while (true) {
      std::string line = qmp_line();
      if (line.empty()) return false;
      if (line.find(needle) != std::string::npos) return true;
      events_.push_back(line);
    }
  }

  // One qtest command; true on "OK".
  bool qtest(const std::string& command) {
    std::string line = command + "\n";
    if (::write(qtest_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) return false;
    while (true) {
      std::string reply = read_line(qtest_, qtest_buf_);
      if (reply.rfind("IRQ", 0) == 0) continue;
      return reply.rfind("OK", 0) == 0;
    }
  }

  // "quit"; true when the process then exits with status 0 (reaped).
  bool quit() {
    qmp("{\"execute\":\"quit\"}");
    char chunk[4096];
    while (::read(qmp_out_, chunk, sizeof chunk) > 0) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  // VmRSS in KiB and the number of open descriptors, from /proc.
  long rss_kib() const {
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string key;
    long value = -1;
    while (status >> key) {
      if (key == "VmRSS:") {
        status >> value;
        break;
      }
      status.ignore(4096, '\n');
    }
    return value;
  }
  long open_fds() const {
    DIR* d = ::opendir(("/proc/" + std::to_string(pid_) + "/fd").c_str());
    if (!d) return -1;
    long n = 0;
    while (dirent* e = ::readdir(d))
      if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
  }

 private:
  static std::string read_line(int fd, std::string& buf) {
    while (true) {
      size_t nl = buf.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, kPatienceMs) != 1) return "";
      char chunk[4096];
      ssize_t n = ::read(fd, chunk, sizeof chunk);
      if (n <= 0) return "";
      buf.append(chunk, static_cast<size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int qmp_in_ = -1, qmp_out_ = -1, qtest_ = -1;
  std::string qmp_buf_, qtest_buf_;
  std::vector<std::string> events_;
  Clock::time_point start_;
};

// Exec to greeting, and exec to exit after quit, in ms; negative when that step failed.
std::pair<double, double> startup_once(const Emulator& emu) {
  auto args = base_args(emu);
  add_plain_devices(args, 1);
  Instance inst(args);
  std::string greeting = inst.qmp_line();
  if (greeting.find("\"QMP\"") == std::string::npos) return {-1, -1};
  double to_greeting = ms_since(inst.started());
  if (!inst.qmp_ok("{\"execute\":\"qmp_capabilities\"}")) return {to_greeting, -1};
  double to_exit = inst.quit() ? ms_since(inst.started()) : -1;
  return {to_greeting, to_exit};
}

// RSS (KiB) and open descriptors once the emulator answers QMP with `devices` ivshmem-plain.
std::pair<double, double> footprint_once(const Emulator& emu, int devices) {
  auto args = base_args(emu);
  add_plain_devices(args, devices);
  Instance inst(args);
  if (inst.qmp_line().find("\"QMP\"") == std::string::npos) return {-1, -1};
  if (!inst.qmp_ok("{\"execute\":\"qmp_capabilities\"}") || !inst.qmp_ok("{\"execute\":\"query-status\"}"))
    return {-1, -1};
  std::pair<double, double> r{static_cast<double>(inst.rss_kib()), static_cast<double>(inst.open_fds())};
  inst.quit();
  return r;
}

// `cycles` hot-plug cycles of one ivshmem-plain in slot 5, in cycles/s. One cycle: object-add
// of a fresh 4 MiB memfd backend, device_add, device_del, the guest's ACPI eject (the slot's bit
// written to the PIIX4 PCI hotplug register 0xae08, over qtest, as libqtest's acpi_unplug
// does), the DEVICE_DELETED event, object-del. A fresh backend each time because QEMU 7.2
// aborts when a device is plugged again on a backend an unplugged one used (the assertion in
// qemu_ram_set_idstr). Negative when a step failed.
double hotplug_rate(const Emulator& emu, const std::string& scratch, int cycles) {
  Instance inst(base_args(emu), scratch + "/qtest.sock");
  if (!inst.qtest_connected()) return -1;
  if (inst.qmp_line().find("\"QMP\"") == std::string::npos) return -1;
  if (!inst.qmp_ok("{\"execute\":\"qmp_capabilities\"}")) return -1;
  constexpr int kSlot = 5;
  auto start = Clock::now();
  for (int i = 0; i < cycles; ++i) {
    std::string id = "hpm" + std::to_string(i);
    if (!inst.qmp_ok(R"({"execute":"object-add","arguments":{"qom-type":"memory-backend-memfd","id":")" + id +
                     R"(","size":4194304,"share":true}})"))
      return -1;
    if (!inst.qmp_ok(R"({"execute":"device_add","arguments":{"driver":"ivshmem-plain","memdev":")" + id +
                     R"(","id":"hp","addr":"0x5"}})"))
      return -1;
    if (!inst.qmp_ok(R"({"execute":"device_del","arguments":{"id":"hp"}})")) return -1;
    if (!inst.qtest("outl 0xae08 " + std::to_string(1u << kSlot))) return -1;
    if (!inst.wait_event("DEVICE_DELETED")) return -1;
    if (!inst.qmp_ok(R"({"execute":"object-del","arguments":{"id":")" + id + R"("}})")) return -1;
  }
  double rate = cycles / (ms_since(start) / 1000);
  inst.quit();
  return rate;
}

void keep(std::vector<double>& v, double x) {
  if (x >= 0) v.push_back(x);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: emulator-bench NAHANNI QEMU [RUNS] [DATA-DIR]\n");
    return 2;
  }
  Emulator ours{argv[1], false}, qemu{argv[2], true};
  int runs = argc > 3 ? std::atoi(argv[3]) : 20;
  std::string data = argc > 4 ? argv[4] : "";
  if (runs < 1) runs = 1;
  ::signal(SIGPIPE, SIG_IGN);
  char scratch_tmpl[] = "/tmp/nn-emulator-bench.XXXXXX";
  if (!::mkdtemp(scratch_tmpl)) return 1;
  std::string scratch = scratch_tmpl;

  print_table_header();
  {
    std::vector<double> ng, nq, qg, qq;
    for (int i = 0; i < runs; ++i) {  // alternating, same inputs
      auto n = startup_once(ours);
      auto q = startup_once(qemu);
      keep(ng, n.first), keep(nq, n.second), keep(qg, q.first), keep(qq, q.second);
    }
    print_pair_row("exec to QMP greeting (pc, -S, 1 ivshmem-plain); peer: QEMU 7.2", "%.1f ms", ng, qg);
    print_pair_row("exec to exit after quit; peer: QEMU 7.2", "%.1f ms", nq, qq);
    if (!data.empty()) {
      write_samples(data + "/startup-greeting-nahanni.txt", ng);
      write_samples(data + "/startup-greeting-qemu.txt", qg);
    }
  }
  int footprint_runs = std::max(1, runs / 4);
  for (int devices : {1, 8, 64}) {
    std::vector<double> nr, nf, qr, qf;
    for (int i = 0; i < footprint_runs; ++i) {
      auto n = footprint_once(ours, devices);
      auto q = footprint_once(qemu, devices);
      keep(nr, n.first), keep(nf, n.second), keep(qr, q.first), keep(qf, q.second);
    }
    std::string what = std::to_string(devices) + " ivshmem-plain (4 MiB memfd each)";
    print_pair_row("RSS after start, " + what + "; peer: QEMU 7.2", "%.0f KiB", nr, qr);
    print_pair_row("open descriptors after start, " + what + "; peer: QEMU 7.2", "%.0f", nf, qf);
  }
  {
    int cycles = std::max(5, runs * 5);
    int rounds = std::max(1, std::min(5, runs / 4));
    std::vector<double> n, q;
    for (int i = 0; i < rounds; ++i) {
      keep(n, hotplug_rate(ours, scratch, cycles));
      keep(q, hotplug_rate(qemu, scratch, cycles));
    }
    print_pair_row("hot-plug cycles/s: object-add memfd, device_add ivshmem-plain, device_del, ACPI eject "
                   "(qtest outl 0xae08), DEVICE_DELETED, object-del; " + std::to_string(cycles) + " per run; peer: QEMU 7.2",
                   "%.0f /s", n, q);
  }
  ::rmdir(scratch.c_str());
  return 0;
}
