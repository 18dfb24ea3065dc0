// ivshmem-server measured from outside: the real binary as a child, peers simulated in this
// process with the shared protocol module. Connect rate, server RSS per peer held, and the
// time a newcomer's arrival takes to reach every peer as the peer count grows. A benchmark,
// never a test: it prints figures and asserts nothing.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
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

  // CPU time (user + system) from /proc/PID/stat, in seconds.
  double cpu_seconds() const {
    std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    size_t close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i)
      if (i == 14 || i == 15) ticks += std::stod(field);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
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

// CPU time (user + system) of this process, in seconds.
double own_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_SELF, &ru);
  auto seconds = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6; };
  return seconds(ru.ru_utime) + seconds(ru.ru_stime);
}

// Up to kBatch messages from one socket in one recvmmsg, one 8-byte message per entry.
//
// Receiving descriptors, each entry has its own control buffer, as a peer reading one message
// per recvmsg has. Discarding them (no control buffer), the kernel closes the descriptor for
// us and sets MSG_CTRUNC on that entry, so the peer still learns that one came; nothing is
// installed in our table and nothing needs a close(). Either way the kernel stops a stream
// read after the message that carried descriptors, so entry i holds exactly message i:
// check_one_message_per_entry() makes sure before anything relies on it.
class BatchReader {
 public:
  static constexpr unsigned kBatch = 64;
  struct Received {
    int64_t value;
    bool had_fd;
    UniqueFd fd;  // valid only when receiving descriptors
  };
  enum class Mode { kReceive, kDiscard };

  BatchReader() {
    for (unsigned i = 0; i < kBatch; ++i) iov_[i] = iovec{bytes_[i].data(), kMessageSize};
  }
  BatchReader(const BatchReader&) = delete;
  BatchReader& operator=(const BatchReader&) = delete;

  // Up to `count` (at most kBatch) messages read, 0 if none was pending; -1 and `error` set on
  // failure. Asking for more than is waiting costs one more read attempt inside the kernel.
  int read(int sock, Mode mode, unsigned count, std::string& error) {
    for (unsigned i = 0; i < count; ++i) {
      msghdr& h = headers_[i].msg_hdr;
      h = msghdr{};
      h.msg_iov = &iov_[i];
      h.msg_iovlen = 1;
      if (mode == Mode::kReceive) {
        h.msg_control = control_[i].data;
        h.msg_controllen = sizeof control_[i].data;
      }
      headers_[i].msg_len = 0;
    }
    int n;
    do {
      n = ::recvmmsg(sock, headers_.data(), count, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, nullptr);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      error = std::string("recvmmsg failed: ") + std::strerror(errno);
      return -1;
    }
    for (int i = 0; i < n; ++i) {
      Received& r = received_[i];
      const msghdr& h = headers_[i].msg_hdr;
      r.fd.reset();
      r.had_fd = false;
      unsigned fds = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&h); mode == Mode::kReceive && c; c = CMSG_NXTHDR(const_cast<msghdr*>(&h), c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        for (size_t k = 0; k < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); ++k, ++fds) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + k * sizeof(int), sizeof fd);
          if (fds == 0)
            r.fd.reset(fd);
          else
            ::close(fd);
        }
      }
      if (headers_[i].msg_len == 0) {
        error = "the server closed a peer's connection";
        return -1;
      }
      if (headers_[i].msg_len != kMessageSize) {
        error = "a message arrived in pieces";
        return -1;
      }
      if (fds > 1) {
        error = "a message carried more than one descriptor";
        return -1;
      }
      bool truncated = (h.msg_flags & MSG_CTRUNC) != 0;
      if (mode == Mode::kReceive && truncated) {
        error = "descriptors were lost (MSG_CTRUNC): out of descriptors?";
        return -1;
      }
      r.had_fd = mode == Mode::kReceive ? fds == 1 : truncated;
      r.value = decode_message(std::span<const std::byte, kMessageSize>(bytes_[i]));
    }
    return n;
  }
  Received& at(int i) { return received_[static_cast<size_t>(i)]; }

 private:
  struct Control {
    alignas(cmsghdr) char data[CMSG_SPACE(sizeof(int) * 4)];
  };
  std::array<std::array<std::byte, kMessageSize>, kBatch> bytes_{};
  std::array<iovec, kBatch> iov_{};
  std::array<Control, kBatch> control_{};
  std::array<mmsghdr, kBatch> headers_{};
  std::array<Received, kBatch> received_{};
};

// What the reading above relies on, checked on this kernel: messages sent one by one, some
// with a descriptor, come out one per entry, the descriptor-carrying ones marked, in both modes.
void check_one_message_per_entry() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) die("socketpair failed");
  UniqueFd a(pair[0]), b(pair[1]);
  UniqueFd efd(::eventfd(0, EFD_CLOEXEC));
  const bool with_fd[] = {true, true, false, true, false, false, true};
  for (auto mode : {BatchReader::Mode::kDiscard, BatchReader::Mode::kReceive}) {
    for (size_t i = 0; i < std::size(with_fd); ++i) {
      auto bytes = encode_message(static_cast<int64_t>(i));
      int fd = efd.get();
      if (send_with_fds(a.get(), bytes, with_fd[i] ? std::span<const int>(&fd, 1) : std::span<const int>()) != 8)
        die("socketpair send failed");
    }
    BatchReader reader;
    std::string error;
    int n = reader.read(b.get(), mode, BatchReader::kBatch, error);
    if (n != static_cast<int>(std::size(with_fd))) die("self-check: expected one message per recvmmsg entry " + error);
    for (int i = 0; i < n; ++i) {
      auto& r = reader.at(i);
      if (r.value != i || r.had_fd != with_fd[i] || r.fd.valid() != (with_fd[i] && mode == BatchReader::Mode::kReceive))
        die("self-check: a descriptor was not reported with its own message");
    }
  }
  // And plain recvmsg without a control buffer into a larger buffer: one descriptor-carrying
  // message per call, MSG_CTRUNC set.
  for (int i = 0; i < 2; ++i) {
    auto bytes = encode_message(i);
    int fd = efd.get();
    if (send_with_fds(a.get(), bytes, std::span<const int>(&fd, 1)) != 8) die("socketpair send failed");
  }
  for (int i = 0; i < 2; ++i) {
    std::byte buf[64];
    iovec iov{buf, sizeof buf};
    msghdr h{};
    h.msg_iov = &iov;
    h.msg_iovlen = 1;
    if (::recvmsg(b.get(), &h, MSG_DONTWAIT) != 8 || !(h.msg_flags & MSG_CTRUNC))
      die("self-check: recvmsg without a control buffer read past a descriptor-carrying message");
  }
}

// One simulated peer. With one vector per peer each other peer shows up as one message with
// an eventfd and leaves as one without.
struct Peer {
  UniqueFd sock;
  size_t messages = 0;
  int64_t own_id = -1;
  bool greeted = false;
  uint32_t arrival_round = 0;    // last fan-out round whose newcomer this peer has seen
  uint32_t departure_round = 0;  // last round whose newcomer it has seen leave
  UniqueFd newcomer_vector;      // the timed newcomer's eventfd, kept until it leaves
};

// All held peers on one epoll set, plus at most one newcomer (the probe) being timed.
class PeerSwarm {
 public:
  explicit PeerSwarm(const ServerProcess& server) : server_(server), epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) die("cannot create an epoll set");
  }

  size_t size() const { return peers_.size(); }

  // Connects `count` more peers one after another; each newcomer is fully introduced
  // (greeted, and known to every other peer) before the next connects, as emulators starting
  // one after another would be: a burst of connects would leave thousands of queues full at
  // once in the server and measure that instead.
  //
  // Untimed, so done as cheaply as the protocol allows. Peers read without taking the
  // descriptors (BatchReader::Mode::kDiscard): the server sends exactly what it sends to any
  // peer, and this process spends nothing on descriptors it would only close. And the held
  // peers are not on the epoll set: each is owed exactly one message (the newcomer's eventfd),
  // so they are read in turn as far as their messages have come, with poll() on the next one
  // when none has. A socket nobody waits on costs the server no wake-up per message.
  void grow(size_t count) {
    unwatch_all();
    mode_ = BatchReader::Mode::kDiscard;
    for (size_t i = 0; i < count; ++i) {
      size_t held = peers_.size();
      peers_.push_back(connect_peer());
      Peer& newcomer = peers_.back();
      // Its greeting: version, id, memory, the held peers' eventfds, its own eventfd.
      size_t n = held + 1, heard = 0;  // held peers [0, heard) know of the newcomer
      auto deadline = Clock::now() + kPatience;
      while (heard < held || newcomer.messages < held + 4 || greeted_ != n || live_links_ != n * held) {
        bool progress = false;
        if (newcomer.messages < held + 4) progress = drain(newcomer, true, BatchReader::kBatch) > 0;
        for (; heard < held && drain(peers_[heard], true, 1) == 1; ++heard) progress = true;
        if (progress) continue;
        if (Clock::now() > deadline) server_.fail("peers were not all greeted");
        pollfd waits[2];
        nfds_t waiting = 0;
        if (newcomer.messages < held + 4) waits[waiting++] = pollfd{newcomer.sock.get(), POLLIN, 0};
        // Not the next held peer but one further on: the server sends in id order (ours), so
        // one wake-up finds a batch ready instead of one message; a wake-up on another core
        // costs more than reading the batch. Any order would still end, only later.
        if (heard < held) waits[waiting++] = pollfd{peers_[std::min(heard + kReadAhead, held - 1)].sock.get(), POLLIN, 0};
        ::poll(waits, waiting, 20);
      }
    }
  }

  // One timed arrival: a newcomer connects; the time until every held peer has received its
  // eventfd, as a peer does (a descriptor in its table, kept until that peer leaves). The
  // newcomer then leaves and every held peer sees it go, untimed.
  double time_fan_out() {
    if (!watching_) {
      for (size_t i = 0; i < peers_.size(); ++i) watch(peers_[i], i);
      watching_ = true;
    }
    mode_ = BatchReader::Mode::kReceive;
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
  static constexpr int kEvents = 1024;
  static constexpr size_t kReadAhead = 64;

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

  // Level-triggered, so one read per ready peer and wake-up is enough: more waiting makes the
  // peer ready again at the next epoll_wait.
  void pump(std::chrono::milliseconds timeout) {
    int n = ::epoll_wait(epoll_.get(), events_.data(), kEvents, static_cast<int>(timeout.count()));
    for (int i = 0; i < n; ++i) {
      uint64_t key = events_[static_cast<size_t>(i)].data.u64;
      if (key == kProbe) {
        if (probe_) drain(*probe_, false, BatchReader::kBatch);
      } else {
        drain(peers_[key], true, 1);
      }
    }
  }

  // Takes the held peers off the epoll set (before the swarm grows again).
  void unwatch_all() {
    if (!watching_) return;
    for (auto& peer : peers_)
      if (::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, peer.sock.get(), nullptr) < 0) die("epoll_ctl failed");
    watching_ = false;
  }

  // Reads up to `count` messages waiting for `peer`; returns how many came. A greeted peer is
  // owed one message per arrival or departure: asking it for more would cost a failed read
  // per message. A greeting (a newcomer's, or the probe's) is long: read in batches.
  int drain(Peer& peer, bool held, unsigned count) {
    // The probe closes what it receives at once: held by it, N eventfds would double what
    // this process needs of the descriptor limit.
    auto mode = held ? mode_ : BatchReader::Mode::kReceive;
    std::string error;
    int got = reader_.read(peer.sock.get(), mode, count, error);
    if (got < 0) server_.fail(error);
    for (int i = 0; i < got; ++i) {
      ++peer.messages;
      if (held) account(peer, reader_.at(i));
      reader_.at(i).fd.reset();
    }
    return got;
  }

  // Message order: version, own id, -1 with the memory, then eventfds; see message.h.
  void account(Peer& peer, BatchReader::Received& message) {
    if (peer.messages == 2) peer.own_id = message.value;
    if (message.value == kSharedMemoryMessage) {
      peer.greeted = true;
      ++greeted_;
      return;
    }
    if (!peer.greeted || message.value == peer.own_id) return;
    if (message.had_fd) {
      ++live_links_;
      if (round_ && mode_ == BatchReader::Mode::kReceive && peer.arrival_round != round_) {
        peer.arrival_round = round_;
        peer.newcomer_vector = std::move(message.fd);
        --awaiting_arrival_;
      }
    } else {
      --live_links_;
      if (round_ && mode_ == BatchReader::Mode::kReceive && peer.departure_round != round_) {
        peer.departure_round = round_;
        peer.newcomer_vector.reset();
        --awaiting_departure_;
      }
    }
  }

  const ServerProcess& server_;
  UniqueFd epoll_;
  std::deque<Peer> peers_;  // stable addresses; the epoll key is the index
  std::optional<Peer> probe_;
  BatchReader reader_;
  std::array<epoll_event, kEvents> events_{};
  BatchReader::Mode mode_ = BatchReader::Mode::kDiscard;
  bool watching_ = false;  // held peers on the epoll set (only while timing)
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
  double budget_s = argc > 3 ? std::strtod(argv[3], nullptr) : 330;
  std::string data = argc > 4 ? argv[4] : "";
  // The server needs two descriptors per peer (socket, eventfd); so does this process while
  // timing (socket, and the newcomer's eventfd each peer keeps until it leaves).
  raise_fd_limit(2 * max_peers + 256);
  size_t fd_peers = (fd_limit() - 128) / 2;
  check_one_message_per_entry();
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
  if (curve) std::fprintf(curve, "# peers median_ms p25_ms p75_ms rounds grow_wall_s grow_server_cpu_s grow_bench_cpu_s\n");
  if (rss_file) std::fprintf(rss_file, "# peers rss_kib rss_per_peer_kib\n");
  PeerSwarm swarm(server);
  const size_t steps[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10000};
  double grow_total_ms = 0;  // time spent connecting the peers held so far
  double grow_server_cpu = 0, grow_own_cpu = 0;
  std::vector<std::pair<double, double>> rss_points;   // peers held, RSS in KiB (from 1,000 up)
  std::vector<std::pair<double, double>> grow_points;  // peers held, growth so far in ms (from 500 up)
  std::string skipped, capped;
  for (size_t n : steps) {
    if (n > max_peers) break;
    if (n > fd_peers) {
      std::string why = thousands(static_cast<double>(n)) + " peers need two descriptors each, in the server and here, " +
                        "and the limit is " + thousands(static_cast<double>(fd_limit())) +
                        " per process (RLIMIT_NOFILE; its hard limit could not be raised)";
      if (swarm.size() >= fd_peers) {
        skipped = "fan-out from " + thousands(static_cast<double>(n)) + " peers: skipped, " + why;
        break;
      }
      capped = "The last step holds " + thousands(static_cast<double>(fd_peers)) + " peers, not " +
               thousands(static_cast<double>(n)) + ": " + why;
      n = fd_peers;
    }
    // Connecting N peers costs about N² descriptor messages, and on a loaded machine the time
    // per message grows with N too: the growth so far is projected with the exponent the last
    // two steps showed (2 at least). A step projected past the budget left is skipped, and so
    // are all larger ones.
    double left_ms = budget_s * 1000 - ms_since(run_start);
    double held = static_cast<double>(swarm.size());
    double nn = static_cast<double>(n);
    double exponent = 2;
    if (grow_points.size() >= 2) {
      auto [n1, t1] = grow_points[grow_points.size() - 2];
      auto [n2, t2] = grow_points.back();
      if (t1 > 0 && t2 > t1) exponent = std::clamp(std::log(t2 / t1) / std::log(n2 / n1), 2.0, 4.0);
    }
    double projected = held > 0 ? grow_total_ms * (std::pow(nn / held, exponent) - 1) : 0;
    if (swarm.size() >= 100 && projected > left_ms) {
      skipped = "fan-out from " + thousands(static_cast<double>(n)) + " peers: skipped, connecting them would take " +
                "about " + thousands(projected / 1000) + " s, more than the " + thousands(left_ms / 1000) + " s left of the " + thousands(budget_s) + " s budget";
      capped.clear();
      break;
    }
    auto grow_start = Clock::now();
    double server_cpu_before = server.cpu_seconds(), own_cpu_before = own_cpu_seconds();
    swarm.grow(n - swarm.size());
    grow_total_ms += ms_since(grow_start);
    if (n >= 500) grow_points.emplace_back(nn, grow_total_ms);
    grow_server_cpu += server.cpu_seconds() - server_cpu_before;
    grow_own_cpu += own_cpu_seconds() - own_cpu_before;
    const int reps = n >= 1000 ? 5 : 9;
    std::vector<double> times;
    for (int rep = 0; rep < reps; ++rep) times.push_back(swarm.time_fan_out());
    long rss = server.rss_kib();
    double per_peer = static_cast<double>(rss - rss_empty) / static_cast<double>(n);
    if (curve) std::fprintf(curve, "%zu %.4f %.4f %.4f %d %.2f %.2f %.2f\n", n, median(times), percentile(times, 0.25),
                            percentile(times, 0.75), reps, grow_total_ms / 1000, grow_server_cpu, grow_own_cpu);
    if (rss_file) std::fprintf(rss_file, "%zu %ld %.3f\n", n, rss, per_peer);
    char value[64], spread[64];
    std::snprintf(value, sizeof value, "%.3f ms", median(times));
    std::snprintf(spread, sizeof spread, "%.3f ms", iqr(times));
    print_single_row("server: fan-out of a newcomer's arrival to " + thousands(static_cast<double>(n)) +
                         (n == 1 ? " peer" : " peers") + " (connect until each has its eventfd)",
                     value, std::to_string(reps), spread);
    if (n >= 1000) {
      rss_points.emplace_back(nn, static_cast<double>(rss));
      char per[64], grown[64], cpu[96];
      std::snprintf(per, sizeof per, "%.2f KiB", per_peer);
      print_single_row("server: RSS per peer, " + thousands(static_cast<double>(n)) + " peers held (1 vector; " +
                           thousands(static_cast<double>(rss)) + " KiB in all)",
                       per, "1", "—");
      std::snprintf(grown, sizeof grown, "%.1f s", grow_total_ms / 1000);
      std::snprintf(cpu, sizeof cpu, "CPU: server %.1f s, benchmark %.1f s", grow_server_cpu, grow_own_cpu);
      print_single_row("server: connecting " + thousands(static_cast<double>(n)) +
                           " peers one at a time, each known to all before the next (untimed growth, wall; " + cpu + ")",
                       grown, "1", "—");
    }
    if (!capped.empty()) break;
  }
  // Holding 65,536 peers is out of reach (see docs/devel/benchmarks.rst); what memory they
  // would take follows from the per-peer slope, which is flat from 1,000 peers up.
  if (rss_points.size() >= 2) {
    double mx = 0, my = 0;
    for (auto [x, y] : rss_points) mx += x, my += y;
    mx /= static_cast<double>(rss_points.size());
    my /= static_cast<double>(rss_points.size());
    double sxy = 0, sxx = 0;
    for (auto [x, y] : rss_points) sxy += (x - mx) * (y - my), sxx += (x - mx) * (x - mx);
    double slope = sxy / sxx, at_limit = my + slope * (65536 - mx);
    char value[64];
    std::snprintf(value, sizeof value, "%.1f MiB", at_limit / 1024);
    char basis[160];
    std::snprintf(basis, sizeof basis, "%.2f KiB per peer, least squares over %zu steps from %s to %s peers", slope,
                  rss_points.size(), thousands(rss_points.front().first).c_str(), thousands(rss_points.back().first).c_str());
    print_single_row("server: RSS with 65,536 peers held, extrapolated, not measured (" + std::string(basis) + ")", value,
                     "—", "—");
  }
  if (curve) std::fclose(curve);
  if (rss_file) std::fclose(rss_file);
  std::printf("\nThe server has no side-by-side figure: Debian does not ship QEMU's ivshmem-server.\n");
  if (!capped.empty()) std::printf("%s.\n", capped.c_str());
  if (!skipped.empty()) std::printf("%s.\n", skipped.c_str());
  return 0;
}
