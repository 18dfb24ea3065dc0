// ivshmem-client: a host-side ivshmem peer for poking at a server by hand or from scripts.
// Interactive by default (QEMU's commands); --exec, --wait-for, --echo and --ping make it
// a test tool that exits with a status.
#include <getopt.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "client.h"
#include "commands.h"
#include "util/event-loop.h"
#include "util/log.h"

using namespace nahanni;
using namespace nahanni::ivshmem;

namespace {

struct ClientOptions {
  std::string socket_path = "/tmp/ivshmem_socket";
  bool verbose = false;
  bool help = false;
  std::optional<std::string> exec;
  std::optional<uint64_t> wait_for;
  std::optional<double> timeout;
  bool echo = false;
  std::optional<uint16_t> ping_peer;
  unsigned count = 1000;
  std::optional<std::string> ping_log;
  std::optional<unsigned> vectors;
};

void print_usage(const char* program) {
  std::printf(
      "Usage: %s [OPTION]...\n"
      "  -h, --help              show this help\n"
      "  -v, --verbose           report the protocol as it goes\n"
      "  -S, --socket-path PATH  server socket (default: /tmp/ivshmem_socket)\n"
      "  -e, --exec CMDS         run commands separated by ';', then exit\n"
      "  -w, --wait-for N        exit 0 once N notifications were received\n"
      "  -t, --timeout SECONDS   give up (exit 1) after SECONDS\n"
      "      --echo              ring every other peer back on the vector that rang\n"
      "      --ping PEER         measure doorbell round trips against PEER in --echo mode\n"
      "      --count N           round trips for --ping (default: 1000)\n"
      "      --ping-log FILE     --ping also writes each round trip to FILE, in ns, one a line\n"
      "      --vectors N         ask the server for N vectors (nahanni extension)\n"
      "Commands: dump, int PEER VECTOR, int PEER all, int all, wait-peer PEER [VECTORS], help\n",
      program);
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
  T v{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Result<ClientOptions> parse_options(int argc, char** argv) {
  enum { kEcho = 256, kPing, kCount, kVectors, kPingLog };
  static const option long_options[] = {
      {"help", no_argument, nullptr, 'h'},         {"verbose", no_argument, nullptr, 'v'},
      {"socket-path", required_argument, nullptr, 'S'}, {"exec", required_argument, nullptr, 'e'},
      {"wait-for", required_argument, nullptr, 'w'}, {"timeout", required_argument, nullptr, 't'},
      {"echo", no_argument, nullptr, kEcho},        {"ping", required_argument, nullptr, kPing},
      {"count", required_argument, nullptr, kCount}, {"vectors", required_argument, nullptr, kVectors},
      {"ping-log", required_argument, nullptr, kPingLog},
      {nullptr, 0, nullptr, 0},
  };
  ClientOptions opts;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":hvS:e:w:t:", long_options, nullptr)) != -1) {
    std::string_view arg = optarg ? optarg : "";
    switch (c) {
      case 'h': opts.help = true; break;
      case 'v': opts.verbose = true; break;
      case 'S': opts.socket_path = std::string(arg); break;
      case 'e': opts.exec = std::string(arg); break;
      case 'w':
        opts.wait_for = parse_number<uint64_t>(arg);
        if (!opts.wait_for || *opts.wait_for == 0) return Error::format("cannot parse wait-for '{}'", arg);
        break;
      case 't': {
        std::string s(arg);
        char* end = nullptr;
        double t = std::strtod(s.c_str(), &end);
        if (s.empty() || *end || !(t > 0)) return Error::format("cannot parse timeout '{}'", arg);
        opts.timeout = t;
        break;
      }
      case kEcho: opts.echo = true; break;
      case kPing:
        opts.ping_peer = parse_number<uint16_t>(arg);
        if (!opts.ping_peer) return Error::format("cannot parse peer id '{}'", arg);
        break;
      case kPingLog:
        if (arg.empty()) return Error("--ping-log needs a file name");
        opts.ping_log = std::string(arg);
        break;
      case kCount: {
        auto n = parse_number<unsigned>(arg);
        if (!n || *n == 0) return Error::format("cannot parse count '{}'", arg);
        opts.count = *n;
        break;
      }
      case kVectors: {
        auto n = parse_number<unsigned>(arg);
        if (!n || *n == 0 || *n > 64) return Error::format("cannot parse vectors '{}' (1..64)", arg);
        opts.vectors = *n;
        break;
      }
      case ':': return Error::format("option '{}' requires an argument", argv[optind - 1]);
      default: return Error::format("invalid option '{}'", argv[optind - 1]);
    }
  }
  if (optind < argc) return Error::format("unexpected argument '{}'", argv[optind]);
  if (opts.echo && opts.ping_peer) return Error("--echo and --ping exclude each other");
  if (opts.ping_log && !opts.ping_peer) return Error("--ping-log needs --ping");
  return opts;
}

// Doorbell round trips against a peer in --echo mode, one at a time on vector 0.
class Pinger {
 public:
  Pinger(uint16_t peer, unsigned count) : peer_(peer), count_(count) {}

  bool done() const { return samples_.size() >= count_; }
  // Rings the peer if no ring is outstanding.
  Status maybe_ring(IvshmemClient& client) {
    if (outstanding_ || done() || client.vectors_of(peer_) == 0) return {};
    outstanding_ = true;
    sent_ = std::chrono::steady_clock::now();
    return client.notify(peer_, 0);
  }
  void on_notification(unsigned vector) {
    if (vector != 0 || !outstanding_) return;
    samples_.push_back(std::chrono::steady_clock::now() - sent_);
    outstanding_ = false;
  }
  // Every sample in the order measured, for benchmarks that plot the distribution.
  Status write_log(const std::string& path) const {
    std::FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return Error::format("cannot create '{}': {}", path, std::strerror(errno));
    for (auto d : samples_) fmt::print(f, "{}\n", d.count());
    if (std::fclose(f) != 0) return Error::format("cannot write '{}': {}", path, std::strerror(errno));
    return {};
  }
  void report(std::FILE* out) {
    std::sort(samples_.begin(), samples_.end());
    auto us = [](std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1000.0; };
    size_t n = samples_.size();
    // Nearest-rank percentiles.
    auto rank = [n](double p) { return std::min(n - 1, static_cast<size_t>(p * static_cast<double>(n) + 0.999999) - 1); };
    fmt::print(out, "ping peer {}: {} round trips, min {:.1f} us, median {:.1f} us, p99 {:.1f} us\n", peer_, n,
               us(samples_.front()), us(samples_[rank(0.5)]), us(samples_[rank(0.99)]));
    std::fflush(out);
  }

 private:
  uint16_t peer_;
  unsigned count_;
  bool outstanding_ = false;
  std::chrono::steady_clock::time_point sent_;
  std::vector<std::chrono::nanoseconds> samples_;
};

int run(int argc, char** argv) {
  auto parsed = parse_options(argc, argv);
  if (!parsed) {
    log::error(parsed.error());
    log::hint("Try 'ivshmem-client -h' for more information.");
    return 1;
  }
  ClientOptions opts = std::move(*parsed);
  if (opts.help) {
    print_usage(argv[0]);
    return 0;
  }
  bool interactive = !opts.exec && !opts.wait_for && !opts.echo && !opts.ping_peer;

  EventLoop loop;
  int exit_code = 0;
  uint64_t received = 0;
  bool stdin_done = !interactive;
  bool vectors_requested = false;
  CommandScript script(stdout);
  std::optional<Pinger> pinger;
  if (opts.ping_peer) pinger.emplace(*opts.ping_peer, opts.count);
  if (opts.exec) script.append(*opts.exec + ";");
  std::unique_ptr<IvshmemClient> client;

  auto finish = [&](int code) {
    exit_code = code;
    loop.quit();
  };
  // Re-evaluates what is left to do after anything happened.
  auto progress = [&] {
    if (!client || !client->ready() || loop.quitting()) return;
    if (opts.vectors && !vectors_requested) {
      vectors_requested = true;
      if (auto st = client->request_vectors(*opts.vectors); !st) {
        log::error(st.error());
        return finish(1);
      }
    }
    if (opts.vectors && client->own_vectors() < *opts.vectors) return;  // not granted yet
    // A failed command ends a script; at the prompt, the next command still runs.
    while (!script.run(*client))
      if (!interactive) return finish(1);
    if (!script.done()) return;
    if (pinger) {
      if (auto st = pinger->maybe_ring(*client); !st) {
        log::error(st.error());
        return finish(1);
      }
      if (!pinger->done()) return;
      if (opts.ping_log) {
        if (auto st = pinger->write_log(*opts.ping_log); !st) {
          log::error(st.error());
          return finish(1);
        }
      }
      pinger->report(stdout);
    }
    if (opts.wait_for && received < *opts.wait_for) return;
    if (opts.echo || !stdin_done) return;
    finish(0);
  };

  IvshmemClient::Callbacks callbacks{
      .on_notification =
          [&](unsigned vector, uint64_t count) {
            received += count;
            if (opts.echo) {
              for (uint16_t peer : client->peer_ids())
                if (client->vectors_of(peer) > vector) (void)client->notify(peer, vector);
            } else if (pinger) {
              pinger->on_notification(vector);
            }
            if ((!opts.echo && !pinger) || opts.verbose)
              fmt::print("notification on vector {} (count {})\n", vector, count);
            std::fflush(stdout);
            progress();
          },
      .on_change = [&] { progress(); },
      .on_fatal =
          [&](const Error& error) {
            log::error(error);
            finish(1);
          },
  };
  auto connected = IvshmemClient::connect(loop, opts.socket_path, std::move(callbacks), opts.verbose);
  if (!connected) {
    log::error(connected.error());
    return 1;
  }
  client = std::move(*connected);

  EventLoop::Handle stdin_watch;
  if (interactive) {
    stdin_watch = loop.watch_fd(STDIN_FILENO, EventLoop::kReadable, [&](uint32_t) {
      // A regular file cannot be polled: the loop calls us once, so read it all.
      bool pollable = stdin_watch.active();
      char buf[4096];
      ssize_t n;
      do {
        n = ::read(STDIN_FILENO, buf, sizeof buf);
        if (n > 0) script.append(std::string_view(buf, static_cast<size_t>(n)));
      } while (n > 0 && !pollable);
      if (n <= 0) {
        script.append(";");  // complete a last command without a newline
        stdin_done = true;
        stdin_watch.reset();
      }
      progress();
    });
  }
  EventLoop::Handle timeout;
  if (opts.timeout) {
    timeout = loop.add_timer(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(*opts.timeout)), [&] {
      if (opts.wait_for)
        log::errorf("timed out after {} s: {} of {} notifications received", *opts.timeout, received, *opts.wait_for);
      else
        log::errorf("timed out after {} s", *opts.timeout);
      finish(1);
    });
  }
  loop.run();
  return exit_code;
}

}  // namespace

int main(int argc, char** argv) {
  log::set_program_name("ivshmem-client");
  return run(argc, argv);
}
