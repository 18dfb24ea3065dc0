// ivshmem-kmod: exercises /dev/ivshmemN (the nahanni_ivshmem kernel module) from a Linux
// guest: device info, argument validation, doorbell round trips between two guests, and
// what an open file sees when its device is hot-unplugged. Static; used by the end-to-end
// tests (tests/interop/linux-kmod) and by hand. See guest/linux/kmod/README.rst.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "ivshmem-uapi.h"

namespace {

constexpr const char* kUsage =
    "Usage: ivshmem-kmod [-d DEVICE] COMMAND [ARG]...\n"
    "  DEVICE: /dev/ivshmemN, or plain/doorbell/legacy for the first such device (default: first)\n"
    "  list                         every /dev/ivshmemN with its info\n"
    "  info                         one device's info\n"
    "  expect KIND IRQ MINVECTORS   fail unless kind (plain/doorbell/legacy), irq mode\n"
    "                               (none/msix/intx) and vector count match\n"
    "  validate                     bad ioctl, read and mmap arguments are refused\n"
    "  memcheck                     write and read back a pattern through mmap\n"
    "  respond ROUNDS WAIT          answer ROUNDS requests of a guest running initiate\n"
    "  initiate ROUNDS WAIT         send ROUNDS requests to a guest running respond\n"
    "                               WAIT: eventfd, read or ioctl (how rings are awaited)\n"
    "  hold                         keep the device open and mapped (two children blocked in read\n"
    "                               and IVSHMEM_IOC_WAIT, one ringing our own id) until it is\n"
    "                               removed; then every operation must fail cleanly\n"
    "Exit status 0 on success, 1 with a message.\n";

constexpr int kWaitMs = 25000;  // per ring; the host bounds the whole guest run anyway

[[noreturn]] void die(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
void die(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::fputs("ivshmem-kmod: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::exit(1);
}

const char* kind_name(uint32_t kind) {
  switch (kind) {
    case IVSHMEM_KIND_PLAIN: return "plain";
    case IVSHMEM_KIND_DOORBELL: return "doorbell";
    case IVSHMEM_KIND_LEGACY: return "legacy";
  }
  return "?";
}

const char* irq_name(uint32_t mode) {
  switch (mode) {
    case IVSHMEM_IRQ_NONE: return "none";
    case IVSHMEM_IRQ_MSIX: return "msix";
    case IVSHMEM_IRQ_INTX: return "intx";
  }
  return "?";
}

bool get_info(int fd, ivshmem_info* info) { return ioctl(fd, IVSHMEM_IOC_INFO, info) == 0; }

void print_info(const char* node, const ivshmem_info& i) {
  std::printf("%s: kind %s, %04x:%04x revision %u, size %llu, ivposition %u, %u vector(s) %s, %s, "
              "features %#x state %#x\n",
              node, kind_name(i.kind), i.vendor, i.device, i.revision, (unsigned long long)i.size,
              i.ivposition, i.vectors, irq_name(i.irq_mode),
              (i.flags & IVSHMEM_INFO_WRITE_COMBINE) ? "write-combining" : "uncached", i.features, i.state);
}

std::vector<std::string> device_nodes() {
  std::vector<std::string> nodes;
  if (DIR* d = opendir("/dev")) {
    while (dirent* e = readdir(d))
      if (std::strncmp(e->d_name, "ivshmem", 7) == 0) nodes.push_back(std::string("/dev/") + e->d_name);
    closedir(d);
  }
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

struct Device {
  std::string node;
  int fd = -1;
  ivshmem_info info{};
};

Device open_device(const std::string& want) {
  std::vector<std::string> candidates;
  if (!want.empty() && want[0] == '/') candidates.push_back(want);
  else candidates = device_nodes();
  for (const auto& node : candidates) {
    int fd = open(node.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      if (want[0] == '/') die("cannot open %s: %s", node.c_str(), std::strerror(errno));
      continue;
    }
    Device dev{node, fd, {}};
    if (!get_info(fd, &dev.info)) die("%s: IVSHMEM_IOC_INFO failed: %s", node.c_str(), std::strerror(errno));
    if (want.empty() || want[0] == '/' || want == kind_name(dev.info.kind)) return dev;
    close(fd);
  }
  die("no %s device among /dev/ivshmem* (is nahanni_ivshmem loaded?)", want.empty() ? "ivshmem" : want.c_str());
}

volatile uint8_t* map_memory(const Device& dev) {
  void* p = mmap(nullptr, dev.info.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev.fd, 0);
  if (p == MAP_FAILED) die("%s: mmap of %llu bytes failed: %s", dev.node.c_str(),
                           (unsigned long long)dev.info.size, std::strerror(errno));
  return static_cast<volatile uint8_t*>(p);
}

// --- validate --------------------------------------------------------------------------

int checks_failed = 0;

void expect_errno(const char* what, int rc, int want) {
  if (rc == -1 && errno == want) {
    std::printf("validate: %s: %s as expected\n", what, std::strerror(want));
  } else {
    std::printf("validate: FAIL: %s: got rc %d (%s), want %s\n", what, rc, rc == -1 ? std::strerror(errno) : "-",
                std::strerror(want));
    checks_failed++;
  }
}

void validate(Device& dev) {
  int fd = dev.fd;
  ivshmem_ring ring{};
  ring.peer = 0x10000;
  expect_errno("ring peer 65536", ioctl(fd, IVSHMEM_IOC_RING, &ring), EINVAL);
  ring = {};
  ring.vector = 0x10000;
  expect_errno("ring vector 65536", ioctl(fd, IVSHMEM_IOC_RING, &ring), EINVAL);
  ring = {};
  ring.flags = 1;
  expect_errno("ring flags 1", ioctl(fd, IVSHMEM_IOC_RING, &ring), EINVAL);
  expect_errno("ring from a bad pointer", ioctl(fd, IVSHMEM_IOC_RING, (void*)8), EFAULT);

  ivshmem_eventfd bind{};
  bind.fd = -1;
  bind.vector = dev.info.vectors;
  expect_errno("eventfd on vector == vectors", ioctl(fd, IVSHMEM_IOC_SET_EVENTFD, &bind), EINVAL);
  bind.vector = 0xffffffffu;
  expect_errno("eventfd on vector 2^32-1", ioctl(fd, IVSHMEM_IOC_SET_EVENTFD, &bind), EINVAL);
  bind = {};
  bind.fd = -2;
  expect_errno("eventfd fd -2", ioctl(fd, IVSHMEM_IOC_SET_EVENTFD, &bind), EINVAL);
  bind = {};
  bind.flags = 4;
  bind.fd = -1;
  expect_errno("eventfd flags 4", ioctl(fd, IVSHMEM_IOC_SET_EVENTFD, &bind), EINVAL);
  if (dev.info.vectors > 0) {
    bind = {};
    bind.fd = fd;  // not an eventfd
    expect_errno("eventfd that is not an eventfd", ioctl(fd, IVSHMEM_IOC_SET_EVENTFD, &bind), EINVAL);
    bind.fd = 1000000;
    expect_errno("eventfd that is not open", ioctl(fd, IVSHMEM_IOC_SET_EVENTFD, &bind), EBADF);
  }

  ivshmem_wait wait{};
  wait.timeout_ms = -2;
  expect_errno("wait timeout -2", ioctl(fd, IVSHMEM_IOC_WAIT, &wait), EINVAL);
  wait = {};
  wait.flags = 1;
  expect_errno("wait flags 1", ioctl(fd, IVSHMEM_IOC_WAIT, &wait), EINVAL);
  expect_errno("info to a bad pointer", ioctl(fd, IVSHMEM_IOC_INFO, (void*)8), EFAULT);
  expect_errno("unknown ioctl", ioctl(fd, _IO(IVSHMEM_IOC_MAGIC, 0x7f), nullptr), ENOTTY);

  uint64_t pending;
  uint32_t small;
  expect_errno("read of 4 bytes", (int)read(fd, &small, sizeof(small)), EINVAL);
  int nb = open(dev.node.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (nb < 0) die("cannot open %s again: %s", dev.node.c_str(), std::strerror(errno));
  expect_errno("non-blocking read with nothing pending", (int)read(nb, &pending, sizeof(pending)), EAGAIN);
  close(nb);

  long page = sysconf(_SC_PAGESIZE);
  auto try_map = [&](size_t len, off_t off, int flags) {
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, flags, fd, off);
    if (p == MAP_FAILED) return -1;
    munmap(p, len);
    errno = 0;
    return 0;
  };
  expect_errno("mmap one page beyond the BAR", try_map(dev.info.size + page, 0, MAP_SHARED), EINVAL);
  expect_errno("mmap at the BAR's end", try_map(page, dev.info.size, MAP_SHARED), EINVAL);
  expect_errno("mmap at a huge offset", try_map(page, (off_t)1 << 46, MAP_SHARED), EINVAL);
  expect_errno("private mmap", try_map(page, 0, MAP_PRIVATE), EINVAL);
  if (try_map(page, dev.info.size - page, MAP_SHARED) != 0) {
    std::printf("validate: FAIL: mmap of the BAR's last page: %s\n", std::strerror(errno));
    checks_failed++;
  } else {
    std::printf("validate: mmap of the BAR's last page works\n");
  }
  if (dev.info.kind == IVSHMEM_KIND_PLAIN) {
    ring = {};
    expect_errno("ring on a plain device", ioctl(fd, IVSHMEM_IOC_RING, &ring), EOPNOTSUPP);
  }
  if (checks_failed) die("%d validation check(s) failed", checks_failed);
  std::printf("validate: all checks passed\n");
}

// --- memory pattern ----------------------------------------------------------------------

uint8_t pattern_byte(uint32_t seed, size_t i) {
  uint32_t x = seed * 2654435761u + static_cast<uint32_t>(i) * 40503u;
  return static_cast<uint8_t>(x ^ (x >> 13) ^ (x >> 24));
}

void memcheck(Device& dev) {
  volatile uint8_t* mem = map_memory(dev);
  // The last 64 KiB (or the whole BAR if smaller): the ping-pong protocol uses the start.
  size_t len = dev.info.size < 65536 ? dev.info.size : 65536, base = dev.info.size - len;
  for (size_t i = 0; i < len; i++) mem[base + i] = pattern_byte(7, i);
  for (size_t i = 0; i < len; i++)
    if (mem[base + i] != pattern_byte(7, i)) die("%s: byte %zu reads back wrong", dev.node.c_str(), base + i);
  std::printf("memcheck: %zu bytes written and read back through mmap\n", len);
  munmap((void*)mem, dev.info.size);
}

// --- ping-pong between two guests ----------------------------------------------------------

// Layout at the start of shared memory. Ids are stored plus one, so 0 means "not yet".
struct Mailbox {
  uint32_t responder_id;
  uint32_t initiator_id;
  uint32_t request_seq;
  uint32_t reply_seq;
};
constexpr size_t kRequestOffset = 0x1000, kReplyOffset = 0x2000, kMessageSize = 0x1000;

enum class WaitKind { Eventfd, Read, Ioctl };

WaitKind parse_wait(const char* s) {
  if (!std::strcmp(s, "eventfd")) return WaitKind::Eventfd;
  if (!std::strcmp(s, "read")) return WaitKind::Read;
  if (!std::strcmp(s, "ioctl")) return WaitKind::Ioctl;
  die("WAIT must be eventfd, read or ioctl, not '%s'", s);
}

// Receives rings on `vector` in the chosen way.
class Receiver {
 public:
  Receiver(Device& dev, WaitKind kind, uint32_t vector) : dev_(dev), kind_(kind), vector_(vector) {
    if (kind_ == WaitKind::Eventfd) {
      efd_ = eventfd(0, EFD_CLOEXEC);
      if (efd_ < 0) die("eventfd: %s", std::strerror(errno));
      ivshmem_eventfd bind{efd_, vector_, 0};
      if (ioctl(dev_.fd, IVSHMEM_IOC_SET_EVENTFD, &bind) != 0)
        die("%s: binding an eventfd to vector %u failed: %s", dev_.node.c_str(), vector_, std::strerror(errno));
    }
  }
  // Waits for a ring on our vector.
  void wait() {
    switch (kind_) {
      case WaitKind::Eventfd: {
        pollfd p{efd_, POLLIN, 0};
        int n = poll(&p, 1, kWaitMs);
        if (n <= 0) die("no ring on vector %u within %d ms (eventfd)", vector_, kWaitMs);
        uint64_t count;
        if (read(efd_, &count, sizeof(count)) != sizeof(count)) die("eventfd read: %s", std::strerror(errno));
        // The file's pending bitmap also collects it; drop it so it does not grow stale.
        ivshmem_wait w{};
        ioctl(dev_.fd, IVSHMEM_IOC_WAIT, &w);
        return;
      }
      case WaitKind::Read: {
        for (;;) {
          pollfd p{dev_.fd, POLLIN, 0};
          int n = poll(&p, 1, kWaitMs);
          if (n <= 0) die("no ring on vector %u within %d ms (poll)", vector_, kWaitMs);
          if (p.revents & (POLLERR | POLLHUP)) die("%s: device gone", dev_.node.c_str());
          uint64_t pending = 0;
          if (read(dev_.fd, &pending, sizeof(pending)) != sizeof(pending))
            die("%s: read: %s", dev_.node.c_str(), std::strerror(errno));
          if (pending & (1ull << vector_)) return;
          std::printf("note: vectors %#llx rung, waiting for %u\n", (unsigned long long)pending, vector_);
        }
      }
      case WaitKind::Ioctl: {
        for (;;) {
          ivshmem_wait w{};
          w.timeout_ms = kWaitMs;
          if (ioctl(dev_.fd, IVSHMEM_IOC_WAIT, &w) != 0) die("%s: wait: %s", dev_.node.c_str(), std::strerror(errno));
          if (w.pending == 0) die("no ring on vector %u within %d ms (ioctl)", vector_, kWaitMs);
          if (w.pending & (1ull << vector_)) return;
        }
      }
    }
  }

 private:
  Device& dev_;
  WaitKind kind_;
  uint32_t vector_;
  int efd_ = -1;
};

void ring(Device& dev, uint32_t peer, uint32_t vector) {
  ivshmem_ring r{peer, vector, 0};
  if (ioctl(dev.fd, IVSHMEM_IOC_RING, &r) != 0)
    die("%s: ring peer %u vector %u: %s", dev.node.c_str(), peer, vector, std::strerror(errno));
}

uint32_t load(volatile uint32_t* p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
void store(volatile uint32_t* p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

// The reply vector: 1 when the device has two vectors (so replies and requests are told apart),
// else 0 (INTx has one).
uint32_t reply_vector(const Device& dev) { return dev.info.vectors > 1 ? 1 : 0; }

void wait_until_nonzero(volatile uint32_t* p, const char* what) {
  for (int i = 0; i < kWaitMs / 10; i++) {
    if (load(p)) return;
    usleep(10000);  // the other guest is still booting: nothing to be woken by yet
  }
  die("%s never appeared in shared memory", what);
}

void respond(Device& dev, unsigned rounds, WaitKind kind) {
  if (dev.info.vectors == 0) die("%s has no interrupt vectors", dev.node.c_str());
  auto* mem = map_memory(dev);
  auto* box = reinterpret_cast<volatile Mailbox*>(mem);
  Receiver rx(dev, kind, 0);  // bound before we announce ourselves, so no ring is missed
  // A second open file that never waits: every file must see every ring.
  int bystander = open(dev.node.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (bystander < 0) die("cannot open %s again: %s", dev.node.c_str(), std::strerror(errno));
  store(&box->responder_id, dev.info.ivposition + 1);
  std::printf("respond: peer %u ready\n", dev.info.ivposition);
  std::fflush(stdout);
  for (unsigned seq = 1; seq <= rounds; seq++) {
    rx.wait();
    if (load(&box->request_seq) != seq) die("request %u expected, mailbox says %u", seq, load(&box->request_seq));
    for (size_t i = 0; i < kMessageSize; i++) {
      uint8_t b = mem[kRequestOffset + i];
      if (b != pattern_byte(seq, i)) die("request %u: byte %zu is %#x, want %#x", seq, i, b, pattern_byte(seq, i));
      mem[kReplyOffset + i] = b ^ 0x5a;
    }
    store(&box->reply_seq, seq);
    ring(dev, load(&box->initiator_id) - 1, reply_vector(dev));
  }
  uint64_t seen = 0;
  if (read(bystander, &seen, sizeof(seen)) != sizeof(seen) || !(seen & 1))
    die("a second open file did not see the rings (read: %s, bitmap %#llx)",
        std::strerror(errno), (unsigned long long)seen);
  close(bystander);
  std::printf("respond: answered %u requests; a second open file saw them too\n", rounds);
}

void initiate(Device& dev, unsigned rounds, WaitKind kind) {
  if (dev.info.vectors == 0) die("%s has no interrupt vectors", dev.node.c_str());
  auto* mem = map_memory(dev);
  auto* box = reinterpret_cast<volatile Mailbox*>(mem);
  Receiver rx(dev, kind, reply_vector(dev));
  store(&box->initiator_id, dev.info.ivposition + 1);
  wait_until_nonzero(&box->responder_id, "the responder's id");
  uint32_t peer = load(&box->responder_id) - 1;
  std::printf("initiate: peer %u talks to peer %u\n", dev.info.ivposition, peer);
  for (unsigned seq = 1; seq <= rounds; seq++) {
    for (size_t i = 0; i < kMessageSize; i++) mem[kRequestOffset + i] = pattern_byte(seq, i);
    store(&box->request_seq, seq);
    ring(dev, peer, 0);
    rx.wait();
    if (load(&box->reply_seq) != seq) die("reply %u expected, mailbox says %u", seq, load(&box->reply_seq));
    for (size_t i = 0; i < kMessageSize; i++)
      if (mem[kReplyOffset + i] != (pattern_byte(seq, i) ^ 0x5a)) die("reply %u: byte %zu is wrong", seq, i);
  }
  std::printf("initiate: %u round trips with peer %u\n", rounds, peer);
}

// --- hold across removal -------------------------------------------------------------------

sigjmp_buf fault_jump;
volatile sig_atomic_t fault_signal = 0;
void on_fault(int sig) {
  fault_signal = sig;
  siglongjmp(fault_jump, 1);
}

// A child that blocks in `call` (a read or an infinite wait) and exits 0 when the call fails
// with ENODEV once the device is removed.
pid_t start_sleeper(const char* what, int (*call)(int fd), int fd) {
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", std::strerror(errno));
  if (pid == 0) {
    int rc;
    while ((rc = call(fd)) >= 0) {
      // Woken by a ring (the unplug test rings us while we hold the device): sleep again.
    }
    int err = errno;
    std::printf("hold: blocked %s returned %d (%s)\n", what, rc, rc == -1 ? std::strerror(err) : "-");
    std::fflush(stdout);
    _exit(rc == -1 && err == ENODEV ? 0 : 1);
  }
  return pid;
}

int blocking_read(int fd) {
  uint64_t pending;
  return static_cast<int>(read(fd, &pending, sizeof(pending)));
}

int blocking_wait(int fd) {
  ivshmem_wait w{};
  w.timeout_ms = -1;
  return ioctl(fd, IVSHMEM_IOC_WAIT, &w);
}

// A child that rings our own peer id (alternating vectors, paced) until ringing fails with
// ENODEV, so the device is removed while its interrupts fire.
pid_t start_self_ringer(const Device& dev) {
  pid_t pid = fork();
  if (pid < 0) die("fork: %s", std::strerror(errno));
  if (pid == 0) {
    unsigned rings = 0;
    for (;;) {
      ivshmem_ring r{dev.info.ivposition, rings % dev.info.vectors, 0};
      if (ioctl(dev.fd, IVSHMEM_IOC_RING, &r) != 0) break;
      rings++;
      usleep(2000);  // pacing only: a few hundred interrupts a second
    }
    int err = errno;
    std::printf("hold: self-ringer stopped after %u rings: %s\n", rings, std::strerror(err));
    std::fflush(stdout);
    _exit(err == ENODEV ? 0 : 1);
  }
  return pid;
}

// Waits (bounded) until process pid sleeps, so the removal really has to wake it.
void wait_until_sleeping(pid_t pid) {
  std::string path = "/proc/" + std::to_string(pid) + "/stat";
  for (int i = 0; i < 2000; i++) {
    if (FILE* f = std::fopen(path.c_str(), "r")) {
      char state = 0;
      int n = std::fscanf(f, "%*d (%*[^)]) %c", &state);
      std::fclose(f);
      if (n == 1 && state == 'S') return;
    }
    usleep(10000);
  }
  die("child %d never went to sleep", pid);
}

bool child_succeeded(pid_t pid) {
  for (int i = 0; i < 3000; i++) {
    int status;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) && WEXITSTATUS(status) == 0;
    usleep(10000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  std::printf("hold: FAIL: child %d still blocked 30 s after the removal\n", pid);
  return false;
}

// Reads one byte at p; returns the signal that reading raised, or 0 if it read fine.
// Kept apart (and not inlined) so that no caller's locals live across the siglongjmp.
__attribute__((noinline)) int touch_faults(volatile uint8_t* p) {
  struct sigaction sa {};
  sa.sa_handler = on_fault;
  sigaction(SIGBUS, &sa, nullptr);
  sigaction(SIGSEGV, &sa, nullptr);
  fault_signal = 0;
  if (sigsetjmp(fault_jump, 1) == 0) {
    (void)p[0];
    return 0;
  }
  return fault_signal;
}

void hold(Device& dev) {
  auto* mem = map_memory(dev);
  mem[0] = 0xa5;
  if (mem[0] != 0xa5) die("mapping does not hold a byte");
  int efd = -1;
  if (dev.info.vectors > 0) {
    efd = eventfd(0, EFD_CLOEXEC);
    ivshmem_eventfd bind{efd, 0, 0};
    if (ioctl(dev.fd, IVSHMEM_IOC_SET_EVENTFD, &bind) != 0) die("eventfd bind: %s", std::strerror(errno));
  }
  std::fflush(stdout);
  pid_t reader = start_sleeper("read", blocking_read, dev.fd);
  pid_t waiter = start_sleeper("IVSHMEM_IOC_WAIT", blocking_wait, dev.fd);
  wait_until_sleeping(reader);
  wait_until_sleeping(waiter);
  pid_t ringer = dev.info.kind == IVSHMEM_KIND_PLAIN || dev.info.vectors == 0 ? -1 : start_self_ringer(dev);
  std::printf("hold: holding %s open and mapped, two children blocked in it%s\n", dev.node.c_str(),
              ringer > 0 ? ", one ringing it" : "");
  std::fflush(stdout);
  unsigned wakeups = 0;
  for (;;) {
    pollfd p{dev.fd, POLLIN, 0};
    int n = poll(&p, 1, 60000);
    if (n == 0) die("hold: the device was not removed within 60 s");
    if (n < 0) die("hold: poll: %s", std::strerror(errno));
    if (p.revents & (POLLERR | POLLHUP)) break;
    uint64_t pending;
    if (read(dev.fd, &pending, sizeof(pending)) < 0 && errno == ENODEV) break;
    // Rings while held (the unplug test has the host ring us until the device is gone).
    if (++wakeups == 1) std::printf("hold: first ring arrived (vectors %#llx)\n", (unsigned long long)pending);
  }
  std::printf("hold: %s was removed after %u wake-ups by rings\n", dev.node.c_str(), wakeups);
  ivshmem_info info;
  expect_errno("info after removal", ioctl(dev.fd, IVSHMEM_IOC_INFO, &info), ENODEV);
  ivshmem_ring r{0, 0, 0};
  expect_errno("ring after removal", ioctl(dev.fd, IVSHMEM_IOC_RING, &r), ENODEV);
  ivshmem_eventfd bind{-1, 0, 0};
  expect_errno("eventfd after removal", ioctl(dev.fd, IVSHMEM_IOC_SET_EVENTFD, &bind), ENODEV);
  ivshmem_wait w{};
  expect_errno("wait after removal", ioctl(dev.fd, IVSHMEM_IOC_WAIT, &w), ENODEV);
  uint64_t pending;
  expect_errno("read after removal", (int)read(dev.fd, &pending, sizeof(pending)), ENODEV);
  void* p = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, dev.fd, 0);
  expect_errno("new mmap after removal", p == MAP_FAILED ? -1 : 0, ENODEV);

  // The old mapping was zapped: touching it must fault, not reach whatever owns the address now.
  int sig = touch_faults(mem);
  if (sig == 0) {
    std::printf("hold: FAIL: the old mapping still reads after removal\n");
    checks_failed++;
  } else {
    std::printf("hold: touching the old mapping gave %s\n", sig == SIGBUS ? "SIGBUS" : strsignal(sig));
    if (sig != SIGBUS) checks_failed++;
  }
  if (ringer > 0 && !child_succeeded(ringer)) checks_failed++;
  if (!child_succeeded(reader)) checks_failed++;
  if (!child_succeeded(waiter)) checks_failed++;
  if (munmap((void*)mem, dev.info.size) != 0) die("munmap after removal: %s", std::strerror(errno));
  if (efd >= 0) close(efd);
  if (close(dev.fd) != 0) die("close after removal: %s", std::strerror(errno));
  if (checks_failed) die("%d check(s) after removal failed", checks_failed);
  std::printf("hold: every operation after removal failed cleanly\n");
}

unsigned parse_count(const char* s) {
  char* end;
  unsigned long v = std::strtoul(s, &end, 0);
  if (*end || v == 0 || v > 1000000) die("'%s' is not a count (1..1000000)", s);
  return static_cast<unsigned>(v);
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);
  std::string want;
  int opt;
  while ((opt = getopt(argc, argv, "+d:h")) != -1) {
    if (opt == 'd') want = optarg;
    else {
      std::fputs(kUsage, opt == 'h' ? stdout : stderr);
      return opt == 'h' ? 0 : 1;
    }
  }
  if (optind >= argc) {
    std::fputs(kUsage, stderr);
    return 1;
  }
  std::string cmd = argv[optind];
  char** args = argv + optind + 1;
  int nargs = argc - optind - 1;

  if (cmd == "list") {
    auto nodes = device_nodes();
    for (const auto& node : nodes) {
      Device dev = open_device(node);
      print_info(node.c_str(), dev.info);
      close(dev.fd);
    }
    if (nodes.empty()) std::printf("no /dev/ivshmem* devices\n");
    return 0;
  }
  Device dev = open_device(want);
  if (cmd == "info" && nargs == 0) {
    print_info(dev.node.c_str(), dev.info);
  } else if (cmd == "expect" && nargs == 3) {
    print_info(dev.node.c_str(), dev.info);
    if (std::strcmp(kind_name(dev.info.kind), args[0]) != 0) die("kind is %s, want %s", kind_name(dev.info.kind), args[0]);
    if (std::strcmp(irq_name(dev.info.irq_mode), args[1]) != 0) die("irq mode is %s, want %s", irq_name(dev.info.irq_mode), args[1]);
    if (dev.info.vectors < std::strtoul(args[2], nullptr, 0)) die("%u vectors, want at least %s", dev.info.vectors, args[2]);
  } else if (cmd == "validate" && nargs == 0) {
    validate(dev);
  } else if (cmd == "memcheck" && nargs == 0) {
    memcheck(dev);
  } else if (cmd == "respond" && nargs == 2) {
    respond(dev, parse_count(args[0]), parse_wait(args[1]));
  } else if (cmd == "initiate" && nargs == 2) {
    initiate(dev, parse_count(args[0]), parse_wait(args[1]));
  } else if (cmd == "hold" && nargs == 0) {
    hold(dev);
  } else {
    std::fputs(kUsage, stderr);
    return 1;
  }
  return 0;
}
