// ivshmem-guest: use ivshmem devices from inside a Linux guest (static binary, no libraries
// needed in the guest). See docs/system/ivshmem-guest.rst.
#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "interrupt-backend.h"
#include "ivshmem-device.h"
#include "ping-pong.h"
#include "test-pattern.h"

namespace nahanni::guest {
namespace {

constexpr const char* kProgram = "ivshmem-guest";

const char* kUsage =
    "Usage: ivshmem-guest COMMAND [OPTION]...\n"
    "Use ivshmem devices from a Linux guest through sysfs (and uio_pci_generic for INTx).\n"
    "\n"
    "Commands:\n"
    "  list [-v]            list the ivshmem devices: address, kind, revision, size, driver\n"
    "  info                 one device in detail, with its IVPosition (peer id)\n"
    "  bind-uio             bind the device to uio_pci_generic (modprobe it first)\n"
    "  ring --peer N        ring vector --vector (default 0) of peer N\n"
    "  wait                 wait for a ring; print the vectors (--count N rings, --timeout MS)\n"
    "  dump                 hex dump of shared memory (--offset, --length; default 256 bytes)\n"
    "  fill                 write --seed S's pattern, or --byte B, into shared memory\n"
    "  check                verify --seed S's pattern (--wait SECONDS: until it appears)\n"
    "  ping                 doorbell round trips with a peer running pong (--count, --payload);\n"
    "                       --echo --peer N: against a peer that rings back (ivshmem-client --echo)\n"
    "  pong                 answer --count pings\n"
    "\n"
    "Options:\n"
    "  -d, --device DEV     PCI address (0000:00:03.0 or 00:03.0), or plain/doorbell/legacy for the\n"
    "                       first such device (default: the first ivshmem device; a doorbell for\n"
    "                       ring/wait/ping/pong)\n"
    "  -f, --file PATH      dump/fill/check a file instead of a device (e.g. on the host)\n"
    "  -b, --backend NAME   how to receive rings: auto, kmod, uio, poll, msix-poll (default auto;\n"
    "                       kmod whenever the device is bound to the nahanni_ivshmem module)\n"
    "      --offset N --length N --seed N --byte N --peer N --vector N --count N --timeout MS\n"
    "      --payload N --wait SECONDS\n"
    "      --sysfs DIR      sysfs root (default /sys)\n"
    "  -v, --verbose        more detail\n"
    "  -h, --help           this help\n"
    "Numbers take 0x and K/M/G suffixes. Exit status 0 on success, 1 with one error line.\n";

// Per-command help: `ivshmem-guest COMMAND --help`.
const std::map<std::string, const char*> kCommandHelp = {
    {"list", "Usage: ivshmem-guest list [-v] [--sysfs DIR]\n"
             "Lists the ivshmem functions: address, kind (plain/doorbell/legacy), maker, IDs, memory size,\n"
             "MSI-X, INTx pin and bound driver.\n"},
    {"info", "Usage: ivshmem-guest info [-d DEV]\nPrints one device and its IVPosition (peer id); Features and State on revision 2.\n"},
    {"bind-uio", "Usage: ivshmem-guest bind-uio [-d DEV]\n"
                 "Binds DEV to uio_pci_generic (driver_override, then drivers_probe) and prints its /dev/uioN.\n"
                 "Load the driver first: modprobe uio_pci_generic.\n"},
    {"ring", "Usage: ivshmem-guest ring [-d DEV] --peer N [--vector V]\nRings vector V (default 0) of peer N.\n"},
    {"wait", "Usage: ivshmem-guest wait [-d DEV] [-b BACKEND] [--count N] [--timeout MS]\n"
             "Waits for N rings (default 1), printing the vectors of each; fails after MS ms (default 60000)\n"
             "without one. BACKEND: auto, kmod, uio, poll, msix-poll (auto: kmod for a device bound to\n"
             "nahanni_ivshmem).\n"},
    {"dump", "Usage: ivshmem-guest dump [-d DEV | -f FILE] [--offset N] [--length N]\nHex dump (default 256 bytes).\n"},
    {"fill", "Usage: ivshmem-guest fill [-d DEV | -f FILE] (--seed S | --byte B) [--offset N] [--length N]\n"
             "Writes pattern S (the same bytes for the same seed and offset, anywhere) or byte B;\n"
             "default: from --offset to the end.\n"},
    {"check", "Usage: ivshmem-guest check [-d DEV | -f FILE] --seed S [--offset N] [--length N] [--wait SECONDS]\n"
              "Verifies pattern S; with --wait, retries until it matches or SECONDS pass.\n"},
    {"ping", "Usage: ivshmem-guest ping [-d DEV] [-b BACKEND] [--count N] [--payload BYTES] [--offset N]\n"
             "                          [--peer N] [--vector V] [--timeout MS]\n"
             "       ivshmem-guest ping --echo --peer N [--count N]\n"
             "Round trips with a peer running pong, through the mailbox at --offset (the peer id is\n"
             "read from it unless --peer is given), or with a peer that rings back (--echo).\n"},
    {"pong", "Usage: ivshmem-guest pong [-d DEV] [-b BACKEND] [--count N] [--payload BYTES] [--offset N]\n"
             "Answers N pings (default 1) in the mailbox at --offset.\n"},
};

struct Options {
  std::string command;
  std::string device, file, backend = "auto", sysfs = kSysfsRoot;
  uint64_t offset = 0;
  std::optional<uint64_t> length, seed, byte, peer, wait_seconds;
  uint64_t vector = 0, count = 1, timeout_ms = 60000, payload = 256;
  bool verbose = false, echo = false, help = false;
};

int fail(const Error& e) {
  std::fprintf(stderr, "%s: %s\n", kProgram, e.message().c_str());
  return 1;
}

Result<uint64_t> parse_number(const char* name, const char* text) {
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 0);
  if (errno || end == text || *text == '-') return Error::format("--{}: '{}' is not a number", name, text);
  uint64_t mult = 1;
  if (*end) {
    switch (*end) {
      case 'K': case 'k': mult = 1ull << 10; break;
      case 'M': mult = 1ull << 20; break;
      case 'G': mult = 1ull << 30; break;
      default: return Error::format("--{}: '{}' is not a number", name, text);
    }
    if (end[1]) return Error::format("--{}: '{}' is not a number", name, text);
  }
  return static_cast<uint64_t>(v) * mult;
}

Result<Options> parse(int argc, char** argv) {
  Options o;
  if (argc < 2) return Error("no command given (try --help)");
  o.command = argv[1];
  enum { kOffset = 256, kLength, kSeed, kByte, kPeer, kVector, kCount, kTimeout, kPayload, kWait, kSysfs, kEcho };
  static const option longopts[] = {
      {"device", required_argument, nullptr, 'd'}, {"file", required_argument, nullptr, 'f'},
      {"backend", required_argument, nullptr, 'b'}, {"verbose", no_argument, nullptr, 'v'},
      {"help", no_argument, nullptr, 'h'}, {"offset", required_argument, nullptr, kOffset},
      {"length", required_argument, nullptr, kLength}, {"seed", required_argument, nullptr, kSeed},
      {"byte", required_argument, nullptr, kByte}, {"peer", required_argument, nullptr, kPeer},
      {"vector", required_argument, nullptr, kVector}, {"count", required_argument, nullptr, kCount},
      {"timeout", required_argument, nullptr, kTimeout}, {"payload", required_argument, nullptr, kPayload},
      {"wait", required_argument, nullptr, kWait}, {"sysfs", required_argument, nullptr, kSysfs},
      {"echo", no_argument, nullptr, kEcho}, {nullptr, 0, nullptr, 0}};
  std::map<int, std::optional<uint64_t>*> optional_numbers{
      {kLength, &o.length}, {kSeed, &o.seed}, {kByte, &o.byte}, {kPeer, &o.peer}, {kWait, &o.wait_seconds}};
  std::map<int, uint64_t*> numbers{{kOffset, &o.offset}, {kVector, &o.vector}, {kCount, &o.count},
                                   {kTimeout, &o.timeout_ms}, {kPayload, &o.payload}};
  optind = 2;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":d:f:b:vh", longopts, nullptr)) != -1) {
    const char* name = nullptr;
    for (const auto& lo : longopts)
      if (lo.name && lo.val == c) name = lo.name;
    switch (c) {
      case 'd': o.device = optarg; break;
      case 'f': o.file = optarg; break;
      case 'b': o.backend = optarg; break;
      case 'v': o.verbose = true; break;
      case 'h': o.help = true; break;
      case kSysfs: o.sysfs = optarg; break;
      case kEcho: o.echo = true; break;
      case ':': return Error::format("option '{}' needs a value", argv[optind - 1]);
      case '?': return Error::format("unknown option '{}' (try --help)", argv[optind - 1]);
      default: {
        NN_ASSIGN_OR_RETURN(uint64_t v, parse_number(name ? name : "?", optarg));
        if (auto it = numbers.find(c); it != numbers.end()) *it->second = v;
        else *optional_numbers.at(c) = v;
      }
    }
  }
  if (optind < argc) return Error::format("unexpected argument '{}' (try --help)", argv[optind]);
  if (o.command == "--help" || o.command == "-h") o.command = "help";
  if (o.peer && *o.peer > 0xffff) return Error::format("--peer {} is out of range (0..65535)", *o.peer);
  if (o.vector > 0xffff) return Error::format("--vector {} is out of range (0..65535)", o.vector);
  if (o.byte && *o.byte > 0xff) return Error::format("--byte {} is out of range (0..255)", *o.byte);
  return o;
}

bool matches(const PciFunction& fn, const std::string& spec) {
  return fn.bdf == spec || (spec.size() == 7 && fn.bdf.size() == 12 && fn.bdf.substr(5) == spec);
}

Result<PciFunction> select_device(const Options& o, bool want_doorbell) {
  NN_ASSIGN_OR_RETURN(std::vector<PciFunction> all, list_ivshmem_functions(o.sysfs));
  for (const auto& fn : all) {
    auto id = *identify_ivshmem(fn);
    if (o.device.empty() ? (!want_doorbell || id.kind != IvshmemKind::Plain)
                         : (matches(fn, o.device) || kind_name(id.kind) == o.device))
      return fn;
  }
  if (all.empty()) return Error::format("no ivshmem device found under {}/bus/pci/devices", o.sysfs);
  if (o.device.empty()) return Error("no ivshmem doorbell device found (only ivshmem-plain)");
  return Error::format("no ivshmem device '{}' (see ivshmem-guest list)", o.device);
}

std::string describe(const PciFunction& fn, const IvshmemIdentity& id) {
  const char* maker = id.revision >= 2 ? "nahanni" : id.revision == 1 ? "QEMU" : "legacy";
  std::string s = fmt::format("{} {} ({}, {:04x}:{:04x} rev {})", fn.bdf, kind_name(id.kind), maker, fn.vendor,
                              fn.device, id.revision);
  if (const auto* r = fn.resource(2)) s += fmt::format(" memory {} KiB", r->size() / 1024);
  if (id.msix) s += " msix";
  if (id.intx) s += fmt::format(" intx(irq {})", fn.irq);
  s += fmt::format(" driver {}", fn.driver.empty() ? "none" : fn.driver);
  return s;
}

int cmd_list(const Options& o) {
  auto all = list_ivshmem_functions(o.sysfs);
  if (!all) return fail(all.error());
  for (const auto& fn : *all) std::printf("%s\n", describe(fn, *identify_ivshmem(fn)).c_str());
  if (all->empty() && o.verbose) std::printf("no ivshmem devices\n");
  return 0;
}

// Shared memory to work on: a device's BAR2, or a whole file.
struct Memory {
  std::optional<IvshmemDevice> device;
  MappedRegion file_map;
  uint8_t* data() const { return device ? device->memory() : file_map.data(); }
  size_t size() const { return device ? device->memory_size() : file_map.size(); }
};

Result<Memory> open_memory(const Options& o) {
  Memory m;
  if (!o.file.empty()) {
    NN_ASSIGN_OR_RETURN(m.file_map, MappedRegion::map_file(o.file, 0));
    return m;
  }
  NN_ASSIGN_OR_RETURN(PciFunction fn, select_device(o, false));
  NN_ASSIGN_OR_RETURN(IvshmemDevice dev, IvshmemDevice::open(fn));
  m.device.emplace(std::move(dev));
  return m;
}

Result<std::pair<uint64_t, uint64_t>> range(const Options& o, const Memory& m, uint64_t default_length) {
  uint64_t length = o.length ? *o.length : std::min<uint64_t>(default_length, m.size() > o.offset ? m.size() - o.offset : 0);
  if (o.offset > m.size() || length > m.size() - o.offset)
    return Error::format("range {:#x}+{:#x} exceeds the {} bytes of shared memory", o.offset, length, m.size());
  return std::make_pair(o.offset, length);
}

Status cmd_memory(const Options& o) {
  NN_ASSIGN_OR_RETURN(Memory m, open_memory(o));
  bool dump = o.command == "dump";
  NN_ASSIGN_OR_RETURN(auto r, range(o, m, dump ? 256 : UINT64_MAX));
  auto [off, len] = r;
  volatile uint8_t* p = m.data() + off;
  if (dump) {
    for (uint64_t i = 0; i < len; i += 16) {
      std::string line = fmt::format("{:08x} ", off + i);
      for (uint64_t j = i; j < i + 16 && j < len; ++j) line += fmt::format(" {:02x}", p[j]);
      std::printf("%s\n", line.c_str());
    }
    return {};
  }
  if (!o.seed && !(o.byte && o.command == "fill")) return Error::format("{} needs --seed{}", o.command, o.command == "fill" ? " or --byte" : "");
  if (o.command == "fill") {
    if (o.byte) {
      for (uint64_t i = 0; i < len; ++i) p[i] = static_cast<uint8_t>(*o.byte);
    } else {
      fill_pattern(p, len, *o.seed, off);
    }
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    std::printf("filled %#llx bytes at %#llx\n", static_cast<unsigned long long>(len), static_cast<unsigned long long>(off));
    return {};
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.wait_seconds.value_or(0));
  for (;;) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    auto bad = check_pattern(p, len, *o.seed, off);
    if (!bad) break;
    if (std::chrono::steady_clock::now() >= deadline)
      return Error::format("shared memory differs from pattern {} at {:#x}: {:#04x}, expected {:#04x}", *o.seed,
                           off + *bad, p[*bad], pattern_byte(*o.seed, off + *bad));
    timespec ts{0, 10000000};
    ::nanosleep(&ts, nullptr);
  }
  std::printf("pattern %llu matches %#llx bytes at %#llx\n", static_cast<unsigned long long>(*o.seed),
              static_cast<unsigned long long>(len), static_cast<unsigned long long>(off));
  return {};
}

Status cmd_device(const Options& o) {
  bool doorbell = o.command != "info" && o.command != "bind-uio";
  NN_ASSIGN_OR_RETURN(PciFunction fn, select_device(o, doorbell));
  if (o.command == "bind-uio") {
    NN_TRY(bind_to_uio(fn));
    NN_ASSIGN_OR_RETURN(PciFunction bound, read_pci_function(o.sysfs, fn.bdf));
    NN_ASSIGN_OR_RETURN(std::string node, uio_device_of(bound));
    std::printf("%s bound to uio_pci_generic: %s\n", fn.bdf.c_str(), node.c_str());
    return {};
  }
  NN_ASSIGN_OR_RETURN(IvshmemDevice dev, IvshmemDevice::open(fn));
  if (o.command == "info") {
    std::printf("%s\n", describe(fn, dev.identity()).c_str());
    std::printf("IVPosition %u\n", dev.iv_position());
    if (dev.identity().revision >= 2) std::printf("Features %#x State %#x\n", dev.features(), dev.state());
    if (const KmodNode* node = dev.kmod()) std::printf("Node %s\n", node->path().c_str());
    return {};
  }
  if (!dev.has_doorbell()) return Error::format("{} is an ivshmem-plain device: it has no doorbell", fn.bdf);
  if (o.command == "ring") {
    if (!o.peer) return Error("ring needs --peer");
    return dev.ring(static_cast<uint16_t>(*o.peer), static_cast<uint16_t>(o.vector));
  }
  NN_ASSIGN_OR_RETURN(auto backend, open_interrupt_backend(dev, o.backend));
  if (o.verbose) std::fprintf(stderr, "%s: %s: backend %s\n", kProgram, fn.bdf.c_str(), std::string(backend->name()).c_str());
  std::chrono::milliseconds timeout(o.timeout_ms);
  if (o.command == "wait") {
    for (uint64_t i = 0; i < o.count; ++i) {
      NN_ASSIGN_OR_RETURN(uint32_t v, backend->wait(timeout));
      if (!v) return Error::format("no ring within {} ms", o.timeout_ms);
      std::printf("rung vectors %#x\n", v);
      std::fflush(stdout);
    }
    return {};
  }
  PingOptions po;
  po.mailbox_offset = o.offset;
  po.payload = o.payload;
  po.count = static_cast<unsigned>(o.count);
  po.vector = static_cast<uint16_t>(o.vector);
  if (o.peer) po.peer = static_cast<uint16_t>(*o.peer);
  po.echo_only = o.echo;
  po.patience = timeout;
  if (o.command == "pong") {
    NN_ASSIGN_OR_RETURN(unsigned n, run_pong(dev, *backend, po));
    std::printf("pong: answered %u pings\n", n);
    return {};
  }
  NN_ASSIGN_OR_RETURN(PingStats s, run_ping(dev, *backend, po));
  auto us = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1000.0; };
  std::printf("ping: %u round trips (backend %s): min %.1f us avg %.1f us max %.1f us\n", s.rounds,
              std::string(backend->name()).c_str(), us(s.min), us(s.total) / s.rounds, us(s.max));
  return {};
}

}  // namespace
}  // namespace nahanni::guest

int main(int argc, char** argv) {
  using namespace nahanni::guest;
  auto o = parse(argc, argv);
  if (!o) return fail(o.error());
  const std::string& c = o->command;
  if (c == "help" || o->help) {
    auto it = kCommandHelp.find(c);
    std::fputs(it != kCommandHelp.end() ? it->second : kUsage, stdout);
    return 0;
  }
  if (c == "list") return cmd_list(*o);
  nahanni::Status st;
  if (c == "dump" || c == "fill" || c == "check") {
    st = cmd_memory(*o);
  } else if (c == "info" || c == "bind-uio" || c == "ring" || c == "wait" || c == "ping" || c == "pong") {
    if (!o->file.empty()) return fail(nahanni::Error::format("{} works on a device, not --file", c));
    st = cmd_device(*o);
  } else {
    return fail(nahanni::Error::format("unknown command '{}' (try --help)", c));
  }
  return st ? 0 : fail(st.error());
}
