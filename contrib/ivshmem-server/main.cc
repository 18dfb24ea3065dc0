// ivshmem-server: hands out shared memory and eventfds to ivshmem peers (QEMU's
// ivshmem-doorbell devices, ivshmem-client, nahanni's devices), wire-compatible with QEMU's.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "listener.h"
#include "server-options.h"
#include "server.h"
#include "shared-memory.h"
#include "util/event-loop.h"
#include "util/log.h"

using namespace nahanni;
using namespace nahanni::ivshmem;

namespace {

// Every peer costs a socket plus its eventfds: take all the descriptors we may have.
void raise_fd_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// Removes the pid file at exit, if we wrote it.
class PidFile {
 public:
  static Result<PidFile> write(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd) return Error::format("cannot write pid file: {}", std::strerror(errno));
    std::string text = std::to_string(::getpid()) + "\n";
    if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      ::unlink(path.c_str());
      return Error::format("cannot write pid file: {}", std::strerror(errno));
    }
    PidFile p;
    p.path_ = path;
    return p;
  }
  PidFile() = default;
  PidFile(PidFile&& o) noexcept : path_(std::exchange(o.path_, {})) {}
  PidFile& operator=(PidFile&& o) noexcept {
    std::swap(path_, o.path_);
    return *this;
  }
  ~PidFile() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }

 private:
  std::string path_;
};

// Detaches from the terminal. The original process waits until the daemon reports that it
// is serving (a byte on the returned pipe) so that its exit status tells the truth; it and
// the middle process leave with _exit, so that they do not run the destructors that remove
// what the daemon now owns.
Result<UniqueFd> daemonize() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) return Error::format("cannot daemonize: {}", std::strerror(errno));
  UniqueFd ready_read(fds[0]), ready_write(fds[1]);
  pid_t pid = ::fork();
  if (pid < 0) return Error::format("cannot daemonize: {}", std::strerror(errno));
  if (pid > 0) {
    ready_write.reset();
    char byte = 0;
    ssize_t n;
    do {
      n = ::read(ready_read.get(), &byte, 1);
    } while (n < 0 && errno == EINTR);
    ::_exit(n == 1 ? 0 : 1);
  }
  ready_read.reset();
  if (::setsid() < 0) return Error::format("cannot daemonize: {}", std::strerror(errno));
  pid = ::fork();
  if (pid < 0) return Error::format("cannot daemonize: {}", std::strerror(errno));
  if (pid > 0) ::_exit(0);
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (null) ::dup2(null.get(), STDIN_FILENO);
  return ready_write;
}

int run(int argc, char** argv) {
  auto parsed = parse_server_options(argc, argv);
  if (!parsed) {
    log::error(parsed.error());
    log::hint("Try 'ivshmem-server -h' for more information.");
    return 1;
  }
  ServerOptions opts = std::move(*parsed);
  if (opts.help) {
    print_server_usage(argv[0]);
    return 0;
  }
  raise_fd_limit();
  ::signal(SIGPIPE, SIG_IGN);

  // Signals arrive through the loop, never in the middle of a callback.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGUSR1);
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);

  // Owner only unless asked: any process that can connect gets the memory (security.rst).
  auto listener = Listener::open(opts.socket_path, opts.socket_mode.value_or(kDefaultSocketMode));
  if (!listener) {
    log::error(listener.error());
    return 1;
  }
  auto shm = SharedMemory::create({.shm_name = opts.shm_name, .dir = opts.shm_dir, .size = opts.shm_size,
                                   .keep = opts.keep_shm});
  if (!shm) {
    log::error(shm.error());
    return 1;
  }
  UniqueFd daemon_ready;
  if (!opts.foreground) {
    auto ready = daemonize();
    if (!ready) {
      log::error(ready.error());
      return 1;
    }
    daemon_ready = std::move(*ready);
  }
  PidFile pid_file;
  if (opts.pid_file || !opts.foreground) {
    auto written = PidFile::write(opts.pid_file.value_or(kDefaultPidFile));
    if (!written) {
      log::error(written.error());
      return 1;
    }
    pid_file = std::move(*written);
  }
  UniqueFd sigfd(::signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sigfd) {
    log::errorf("cannot create signalfd: {}", std::strerror(errno));
    return 1;
  }

  EventLoop loop;
  IvshmemServer::Config config{
      .vectors = opts.vectors,
      .max_vectors = opts.max_vectors,
      .max_peers = opts.max_peers,
      .max_queue = opts.max_queue,
      .allow_uids = opts.allow_uids,
      .allow_gids = opts.allow_gids,
      .verbose = opts.verbose,
      .shm_description = shm->description(),
      .shm_size = shm->size(),
  };
  // The server hands out a duplicate reference; `shm` keeps the name to unlink at exit.
  UniqueFd shm_fd(::fcntl(shm->fd(), F_DUPFD_CLOEXEC, 0));
  if (!shm_fd) {
    log::errorf("cannot duplicate the shared memory fd: {}", std::strerror(errno));
    return 1;
  }
  IvshmemServer server(loop, std::move(config), listener->take_fd(), make_shared_fd(std::move(shm_fd)));
  server.start();
  auto signal_watch = loop.watch_fd(sigfd.get(), EventLoop::kReadable, [&](uint32_t) {
    signalfd_siginfo info{};
    while (::read(sigfd.get(), &info, sizeof info) == sizeof info) {
      if (info.ssi_signo == SIGUSR1)
        server.dump_status(stdout);
      else
        loop.quit();
    }
  });
  if (daemon_ready) {
    char byte = 0;
    ssize_t unused = ::write(daemon_ready.get(), &byte, 1);
    (void)unused;
    daemon_ready.reset();
  }
  if (opts.verbose)
    log::infof("listening on {}, {} of {} bytes, {} vectors per peer", opts.socket_path, shm->description(),
               shm->size(), opts.vectors);
  loop.run();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  log::set_program_name("ivshmem-server");
  return run(argc, argv);
}
