// ivshmem-server measured from outside: the real binary as a child, peers simulated in this
// process with the shared protocol module. Connect rate, server RSS per peer held, and the
// time a newcomer's arrival takes to reach every peer as the peer count grows. A benchmark,
// never a test: it prints figures and asserts nothing.
#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench-report.h"
#include "contrib/ivshmem-protocol/message-reader.h"
#include "contrib/ivshmem-protocol/message.h"
#include "util/fd.h"
#include "util/socket.h"

namespace {

using namespace nahanni;
using namespace nahanni::ivshmem;
using namespace nahanni::bench;

// Bound for waits that only run out when something is broken; never a measurement.
constexpr auto kPatience = std::chrono::seconds(60);

[[noreturn]] void die(const std::string& message) {
  std::fprintf(stderr, "server-bench: %s\n", message.c_str());
  std::exit(1);
}

// Every held peer costs this process a socket; the server's rlimit follows ours.
// As root (CAP_SYS_RESOURCE) the hard limit itself may go up, to fs.nr_open.
void raise_fd_limit(size_t wanted) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_max < wanted) {
    rlimit more{wanted, wanted};
    if (::setrlimit(RLIMIT_NOFILE, &more) == 0) return;
  }
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}
size_t fd_limit() {
  rlimit rl{};
  return ::getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
}

// A scratch directory for the socket and the server's stderr, removed with its contents.
class ScratchDir {
 public:
  ScratchDir() {
    std::string tmpl = "/tmp/nn-server-bench.XXXXXX";
    if (!::mkdtemp(tmpl.data())) die("cannot create a scratch directory");
    path_ = tmpl;
  }
  ~ScratchDir() {
    ::unlink(file("sock").c_str());
    ::unlink(file("stderr").c_str());
    ::rmdir(path_.c_str());
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string file(const char* name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// The server binary in the foreground, quiet, one vector per peer; stopped with SIGTERM.
class ServerProcess {
 public:
  ServerProcess(const std::string& binary, const ScratchDir& dir) : socket_(dir.file("sock")), err_(dir.file("stderr")) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int null = ::open("/dev/null", O_RDWR);
      int err = ::open(err_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
      ::dup2(null, 0);
      ::dup2(null, 1);
      ::dup2(err, 2);
      // Peers that read late must not be dropped: the queue bound is the server's, not ours.
      const char* argv[] = {binary.c_str(), "-F", "-S", socket_.c_str(), "-n", "1", "--max-queue", "1000000", nullptr};
      ::execv(argv[0], const_cast<char* const*>(argv));
      ::_exit(127);
    }
    if (pid_ < 0) die("cannot fork");
  }
  ~ServerProcess() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& socket() const { return socket_; }
  pid_t pid() const { return pid_; }

  // VmRSS from /proc/PID/status, in KiB.
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

  [[noreturn]] void fail(const std::string& what) const {
    std::ifstream in(err_);
    std::string line, text;
    while (std::getline(in, line)) text += "\n  " + line;
    die(what + (text.empty() ? "" : "; the server said:" + text));
  }

 private:
  pid_t pid_ = -1;
  std::string socket_;
  std::string err_;
};

// Connects, reads the greeting up to the shared-memory message, and hangs up. This is the
// connect-rate cycle, and also how we learn that the server listens.
bool connect_and_greet(const std::string& socket) {
  auto sock = unix_connect(socket);
  if (!sock) return false;
  MessageReader reader;
  std::byte buf[512];
  while (true) {
    std::vector<UniqueFd> fds;
    ssize_t n = recv_with_fds(sock->get(), buf, fds);
    if (n <= 0) return false;
    if (!reader.feed(std::span<const std::byte>(buf, static_cast<size_t>(n)), std::move(fds))) return false;
    while (auto message = reader.next())
      if (message->value == kSharedMemoryMessage) return true;
  }
}

void wait_until_listening(const ServerProcess& server) {
  auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!connect_and_greet(server.socket())) {
    if (Clock::now() > deadline) server.fail("the server did not start listening");
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Let the server see this first peer leave before anything is measured.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

// One simulated peer: it reads everything, keeps no descriptor, and counts what the
// benchmark needs. With one vector per peer each other peer shows up as one message with
// an eventfd and leaves as one without.
struct Peer {
  UniqueFd sock;
  MessageReader reader;
  size_t messages = 0;
  int64_t own_id = -1;
  bool greeted = false;
  uint32_t arrival_round = 0;    // last fan-out round whose newcomer this peer has seen
  uint32_t departure_round = 0;  // last round whose newcomer it has seen leave
};

// All held peers on one epoll set, plus at most one newcomer (the probe) being timed.
class PeerSwarm {
 public:
  explicit PeerSwarm(const ServerProcess& server) : server_(server), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) die("cannot create an epoll set");
  }

  size_t size() const { return peers_.size(); }

  // Connects `count` more peers one after another, then waits until each has been greeted
  // and knows every other peer.
  // Each newcomer is fully introduced (greeted, and known to every other peer) before the next
  // connects, as emulators starting one after another would be: a burst of connects would
  // leave thousands of queues full at once in the server and measure that instead.
  void grow(size_t count) {
    for (size_t i = 0; i < count; ++i) {
      peers_.push_back(connect_peer());
      watch(peers_.back(), peers_.size() - 1);
      size_t n = peers_.size();
      wait_for([&] { return greeted_ == n && live_links_ == n * (n - 1); }, "peers were not all greeted");
    }
  }

  // One timed arrival: a newcomer connects; the time until every held peer has received its
  // eventfd. The newcomer then leaves and every held peer sees it go, untimed.
  double time_fan_out() {
    ++round_;
    awaiting_arrival_ = peers_.size();
    awaiting_departure_ = peers_.size();
    auto start = Clock::now();
    probe_ = connect_peer();
    watch(*probe_, kProbe);
    wait_for([&] { return awaiting_arrival_ == 0; }, "a newcomer's arrival did not reach every peer");
    double elapsed = ms_since(start);
    probe_.reset();
    wait_for([&] { return awaiting_departure_ == 0; }, "a newcomer's departure did not reach every peer");
    return elapsed;
  }

 private:
  static constexpr uint64_t kProbe = ~uint64_t{0};

  Peer connect_peer() {
    auto sock = unix_connect(server_.socket());
    if (!sock) server_.fail(sock.error().message());
    set_nonblocking(sock->get(), true);
    return Peer{.sock = std::move(*sock)};
  }
  void watch(Peer& peer, uint64_t key) {
    epoll_event ev{.events = EPOLLIN, .data = {.u64 = key}};
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, peer.sock.get(), &ev) < 0) die("epoll_ctl failed");
  }

  template <typename Pred>
  void wait_for(Pred done, const char* what) {
    auto deadline = Clock::now() + kPatience;
    while (!done()) {
      if (Clock::now() > deadline) server_.fail(what);
      pump(std::chrono::milliseconds(20));
    }
  }

  void pump(std::chrono::milliseconds timeout) {
    epoll_event events[256];
    int n = ::epoll_wait(epoll_.get(), events, 256, static_cast<int>(timeout.count()));
    for (int i = 0; i < n; ++i) {
      uint64_t key = events[i].data.u64;
      if (key == kProbe) {
        if (probe_) drain(*probe_, false);
      } else {
        drain(peers_[key], true);
      }
    }
  }

  void drain(Peer& peer, bool held) {
    std::byte buf[4096];
    while (true) {
      std::vector<UniqueFd> fds;
      ssize_t n = recv_with_fds(peer.sock.get(), buf, fds);
      if (n == 0) server_.fail("the server closed a peer's connection");
      if (n < 0) {
        if (errno == EAGAIN) return;
        server_.fail("recvmsg failed");
      }
      if (!peer.reader.feed(std::span<const std::byte>(buf, static_cast<size_t>(n)), std::move(fds)))
        server_.fail("the server sent a malformed message");
      while (auto message = peer.reader.next()) {
        ++peer.messages;
        if (held) account(peer, *message);
      }
    }
  }

  // Message order: version, own id, -1 with the memory, then eventfds; see message.h.
  void account(Peer& peer, const Message& message) {
    if (peer.messages == 2) peer.own_id = message.value;
    if (message.value == kSharedMemoryMessage) {
      peer.greeted = true;
      ++greeted_;
      return;
    }
    if (!peer.greeted || message.value == peer.own_id) return;
    if (message.fd.valid()) {
      ++live_links_;
      if (round_ && peer.arrival_round != round_) {
        peer.arrival_round = round_;
        --awaiting_arrival_;
      }
    } else {
      --live_links_;
      if (round_ && peer.departure_round != round_) {
        peer.departure_round = round_;
        --awaiting_departure_;
      }
    }
  }

  const ServerProcess& server_;
  UniqueFd epoll_;
  std::deque<Peer> peers_;  // stable addresses; the epoll key is the index
  std::optional<Peer> probe_;
  size_t greeted_ = 0;
  size_t live_links_ = 0;  // eventfds of other peers held, summed over held peers
  uint32_t round_ = 0;     // 0: not timing
  size_t awaiting_arrival_ = 0;
  size_t awaiting_departure_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: server-bench IVSHMEM-SERVER [MAX-PEERS [BUDGET-SECONDS [DATA-DIR]]]\n");
    return 2;
  }
  std::string binary = argv[1];
  size_t max_peers = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 10000;
  double budget_s = argc > 3 ? std::strtod(argv[3], nullptr) : 420;
  std::string data = argc > 4 ? argv[4] : "";
  // The server needs two descriptors per peer (socket, eventfd), this process one.
  raise_fd_limit(2 * max_peers + 256);
  size_t fd_peers = (fd_limit() - 64) / 2;
  ::signal(SIGPIPE, SIG_IGN);
  auto run_start = Clock::now();

  print_table_header();

  // Connect rate, on a server with nobody else connected.
  {
    ScratchDir dir;
    ServerProcess server(binary, dir);
    wait_until_listening(server);
    const int cycles = max_peers >= 1000 ? 2000 : 200, runs = 5;
    std::vector<double> rates;
    for (int run = 0; run < runs; ++run) {
      auto start = Clock::now();
      for (int i = 0; i < cycles; ++i)
        if (!connect_and_greet(server.socket())) server.fail("a connect-rate cycle failed");
      rates.push_back(cycles / (ms_since(start) / 1000));
    }
    print_single_row("server: connect rate (connect, greeting up to the shared memory, disconnect; no other peer)",
                     thousands(median(rates)) + " peers/s", std::to_string(runs) + " × " + thousands(cycles),
                     thousands(iqr(rates)) + " peers/s");
  }

  // Peers held and fan-out, on one fresh server whose peer count grows step by step.
  ScratchDir dir;
  ServerProcess server(binary, dir);
  wait_until_listening(server);
  long rss_empty = server.rss_kib();
  print_single_row("server: RSS with no peer", thousands(static_cast<double>(rss_empty)) + " KiB", "1", "—");
  std::FILE* curve = data.empty() ? nullptr : std::fopen((data + "/fanout.txt").c_str(), "w");
  std::FILE* rss_file = data.empty() ? nullptr : std::fopen((data + "/server-rss.txt").c_str(), "w");
  if (curve) std::fprintf(curve, "# peers median_ms p25_ms p75_ms rounds\n");
  if (rss_file) std::fprintf(rss_file, "# peers rss_kib rss_per_peer_kib\n");
  PeerSwarm swarm(server);
  const size_t steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000};
  double grow_total_ms = 0;  // time spent connecting the peers held so far
  std::string skipped;
  for (size_t n : steps) {
    if (n > max_peers) break;
    if (n > fd_peers) {
      skipped = "fan-out from " + thousands(static_cast<double>(n)) + " peers: skipped, descriptor limit " +
                thousands(static_cast<double>(fd_limit()));
      break;
    }
    // Connecting N peers costs about N² descriptor messages: a step projected past the
    // budget left is skipped, and so are all larger ones.
    double left_ms = budget_s * 1000 - ms_since(run_start);
    double held = static_cast<double>(swarm.size());
    double nn = static_cast<double>(n);
    double projected = held > 0 ? grow_total_ms * (nn * nn - held * held) / (held * held) : 0;
    if (swarm.size() >= 100 && projected > left_ms) {
      skipped = "fan-out from " + thousands(static_cast<double>(n)) + " peers: skipped, connecting them would take " +
                "about " + thousands(projected / 1000) + " s, more than the " + thousands(left_ms / 1000) + " s left of the " + thousands(budget_s) + " s budget";
      break;
    }
    auto grow_start = Clock::now();
    swarm.grow(n - swarm.size());
    grow_total_ms += ms_since(grow_start);
    const int reps = n >= 1000 ? 5 : 9;
    std::vector<double> times;
    for (int rep = 0; rep < reps; ++rep) times.push_back(swarm.time_fan_out());
    long rss = server.rss_kib();
    double per_peer = static_cast<double>(rss - rss_empty) / static_cast<double>(n);
    if (curve) std::fprintf(curve, "%zu %.4f %.4f %.4f %d\n", n, median(times), percentile(times, 0.25),
                            percentile(times, 0.75), reps);
    if (rss_file) std::fprintf(rss_file, "%zu %ld %.3f\n", n, rss, per_peer);
    char value[64], spread[64];
    std::snprintf(value, sizeof value, "%.3f ms", median(times));
    std::snprintf(spread, sizeof spread, "%.3f ms", iqr(times));
    print_single_row("server: fan-out of a newcomer's arrival to " + thousands(static_cast<double>(n)) +
                         (n == 1 ? " peer" : " peers") + " (connect until each has its eventfd)",
                     value, std::to_string(reps), spread);
    if (n >= 1000) {
      char per[64];
      std::snprintf(per, sizeof per, "%.2f KiB", per_peer);
      print_single_row("server: RSS per peer, " + thousands(static_cast<double>(n)) + " peers held (1 vector; " +
                           thousands(static_cast<double>(rss)) + " KiB in all)",
                       per, "1", "—");
    }
  }
  if (curve) std::fclose(curve);
  if (rss_file) std::fclose(rss_file);
  std::printf("\nThe server has no side-by-side figure: Debian does not ship QEMU's ivshmem-server.\n");
  if (!skipped.empty()) std::printf("%s.\n", skipped.c_str());
  return 0;
}
