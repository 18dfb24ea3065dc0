#include "libqtest.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

#include "util/base64.h"
#include "util/socket.h"

#ifndef NAHANNI_EMULATOR_PATH
#define NAHANNI_EMULATOR_PATH "nahanni-system-x86_64"
#endif

namespace nahanni::qtest {

namespace {

constexpr auto kConnectTimeout = std::chrono::seconds(30);

std::string tmpdir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

bool verbose() { return std::getenv("QTEST_LOG") != nullptr; }

std::string hex_of(std::span<const uint8_t> data) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s = "0x";
  for (uint8_t b : data) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

// Waits for one connection on `listener` while making sure the child is still alive.
UniqueFd accept_from(int listener, ChildProcess& child, const char* what, const std::function<std::string()>& err) {
  auto deadline = std::chrono::steady_clock::now() + kConnectTimeout;
  for (;;) {
    struct pollfd p = {listener, POLLIN, 0};
    int n = ::poll(&p, 1, 100);
    if (n > 0) {
      int fd = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd >= 0) return UniqueFd(fd);
    }
    if (auto s = child.poll())
      throw QTestError(fmt::format("emulator ended ({}) before connecting its {} socket; stderr:\n{}", s->describe(),
                                   what, err()));
    if (std::chrono::steady_clock::now() > deadline) {
      child.kill_now();
      throw QTestError(fmt::format("emulator did not connect its {} socket in time; stderr:\n{}", what, err()));
    }
  }
}

std::atomic<int> g_instance{0};

}  // namespace

std::string emulator_binary() {
  const char* b = std::getenv("QTEST_QEMU_BINARY");
  return b && *b ? b : NAHANNI_EMULATOR_PATH;
}

RunResult run_emulator(const std::string& args, std::chrono::milliseconds timeout) {
  return run_command(emulator_binary() + " " + args, timeout);
}

QTestState::QTestState(const std::string& extra_args) : QTestState(extra_args, Options{}) {}

QTestState::QTestState(const std::string& extra_args, Options options) : options_(options) {
  try {
    start(extra_args);
  } catch (...) {
    if (child_.running()) child_.kill_now();
    throw;
  }
}

QTestState::~QTestState() {
  if (!exit_) {
    ExitStatus s = quit();
    if (!s.success()) fmt::print(stderr, "libqtest: emulator {} ended with {}\n", pid(), s.describe());
  }
}

void QTestState::start(const std::string& extra_args) {
  int n = g_instance++;
  std::string base = fmt::format("{}/qtest-{}-{}", tmpdir(), getpid(), n);
  std::string qtest_path = base + ".sock", qmp_path = base + ".qmp";
  auto qtest_listener = unix_listen(qtest_path, 1);
  if (!qtest_listener) throw QTestError(qtest_listener.error().message());
  auto qmp_listener = unix_listen(qmp_path, 1);
  if (!qmp_listener) {
    ::unlink(qtest_path.c_str());
    throw QTestError(qmp_listener.error().message());
  }

  // stderr goes to an unlinked file: the test can read it, and it never blocks the emulator.
  std::string err_template = tmpdir() + "/qtest-stderr-XXXXXX";
  int err_fd = mkostemp(err_template.data(), O_CLOEXEC);
  if (err_fd < 0) throw QTestError("cannot create a file for the emulator's stderr");
  ::unlink(err_template.c_str());
  stderr_file_.reset(err_fd);

  std::string cmdline = fmt::format(
      "{} -qtest unix:{} -qtest-log {} -chardev socket,path={},id=char0 -mon chardev=char0,mode=control "
      "-display none -audio none {} -accel qtest",
      emulator_binary(), qtest_path, verbose() ? "/dev/fd/2" : "/dev/null", qmp_path, extra_args);
  if (verbose()) fmt::print(stderr, "libqtest: {}\n", cmdline);
  child_ = ChildProcess::spawn(cmdline, -1, stderr_file_.get());

  auto err = [this] { return stderr_text(); };
  try {
    qtest_fd_ = accept_from(qtest_listener->get(), child_, "qtest", err);
    qmp_fd_ = accept_from(qmp_listener->get(), child_, "QMP", err);
  } catch (...) {
    ::unlink(qtest_path.c_str());
    ::unlink(qmp_path.c_str());
    throw;
  }
  ::unlink(qtest_path.c_str());
  ::unlink(qmp_path.c_str());

  std::string endian = command("endianness");
  if (endian != "OK little" && endian != "OK big") fail("unexpected endianness reply '" + endian + "'");
  if (options_.qmp_handshake) {
    greeting_ = read_qmp_message();
    if (!greeting_.contains("QMP")) fail("unexpected QMP greeting " + greeting_.dump());
    nlohmann::json r = qmp(nlohmann::json{{"execute", "qmp_capabilities"}});
    if (!r.contains("return")) fail("qmp_capabilities failed: " + r.dump());
  }
}

void QTestState::fail(const std::string& what) {
  std::string msg = what;
  if (auto s = child_.poll()) msg += fmt::format(" (emulator {})", s->describe());
  std::string err = stderr_text();
  if (!err.empty()) msg += "; emulator stderr:\n" + err;
  throw QTestError(msg);
}

std::string QTestState::stderr_text() const {
  std::string text;
  if (!stderr_file_) return text;
  char buf[4096];
  off_t off = 0;
  for (;;) {
    ssize_t r = pread(stderr_file_.get(), buf, sizeof buf, off);
    if (r <= 0) break;
    text.append(buf, static_cast<size_t>(r));
    off += r;
  }
  return text;
}

std::string QTestState::unexpected_stderr() const {
  std::string text = stderr_text(), out;
  std::string notice = fmt::format(": terminating on signal 15 from pid {} (", getpid());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    size_t end = nl == std::string::npos ? text.size() : nl + 1;
    std::string_view line(text.data() + pos, end - pos);
    if (line.find(notice) == std::string_view::npos) out.append(line);
    pos = end;
  }
  return out;
}

void QTestState::wait_readable(int fd) {
  auto deadline = std::chrono::steady_clock::now() + options_.reply_timeout;
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    int n = ::poll(&p, 1, 100);
    if (n > 0) return;
    if (n < 0 && errno != EINTR) fail("poll failed");
    if (std::chrono::steady_clock::now() > deadline) fail("no answer from the emulator in time");
  }
}

std::string QTestState::next_line() {
  for (;;) {
    size_t nl = qtest_buf_.find('\n');
    if (nl != std::string::npos) {
      std::string line = qtest_buf_.substr(0, nl);
      qtest_buf_.erase(0, nl + 1);
      if (verbose()) fmt::print(stderr, "qtest< {}\n", line.size() > 200 ? line.substr(0, 200) + "..." : line);
      bool raise = line.rfind("IRQ raise ", 0) == 0;
      if (raise || line.rfind("IRQ lower ", 0) == 0) {
        int n = std::atoi(line.c_str() + 10);
        if (n >= 0 && n < static_cast<int>(irq_levels_.size())) irq_levels_[n] = raise;
      }
      return line;
    }
    wait_readable(qtest_fd_.get());
    char buf[65536];
    ssize_t r = ::read(qtest_fd_.get(), buf, sizeof buf);
    if (r == 0) fail("the emulator closed the qtest connection");
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail(fmt::format("reading the qtest socket: {}", std::strerror(errno)));
    }
    qtest_buf_.append(buf, static_cast<size_t>(r));
  }
}

// The next reply line; IRQ lines before it update the levels and are skipped.
std::string QTestState::read_qtest_line() {
  for (;;) {
    std::string line = next_line();
    if (line.rfind("IRQ ", 0) != 0) return line;
  }
}

void QTestState::send_raw(std::string_view bytes) {
  if (verbose()) fmt::print(stderr, "qtest> {}\n", bytes.size() > 200 ? std::string(bytes.substr(0, 200)) + "..." : std::string(bytes));
  while (!bytes.empty()) {
    ssize_t w = ::send(qtest_fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(fmt::format("writing the qtest socket: {}", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(w));
  }
}

std::string QTestState::reply() { return read_qtest_line(); }

std::string QTestState::command(std::string_view line) {
  std::string text(line);
  text += '\n';
  send_raw(text);
  return read_qtest_line();
}

std::string QTestState::checked(std::string_view line) {
  std::string r = command(line);
  if (r == "OK") return "";
  if (r.rfind("OK ", 0) == 0) return r.substr(3);
  fail(fmt::format("qtest '{}' answered '{}'", line.substr(0, 100), r));
}

uint64_t QTestState::checked_number(std::string_view line) {
  std::string v = checked(line);
  errno = 0;
  char* end = nullptr;
  uint64_t n = std::strtoull(v.c_str(), &end, 0);
  if (v.empty() || *end || errno) fail(fmt::format("qtest '{}' answered a bad number '{}'", line, v));
  return n;
}

uint8_t QTestState::inb(uint16_t port) { return static_cast<uint8_t>(checked_number(fmt::format("inb 0x{:x}", port))); }
uint16_t QTestState::inw(uint16_t port) { return static_cast<uint16_t>(checked_number(fmt::format("inw 0x{:x}", port))); }
uint32_t QTestState::inl(uint16_t port) { return static_cast<uint32_t>(checked_number(fmt::format("inl 0x{:x}", port))); }
void QTestState::outb(uint16_t port, uint8_t v) { checked(fmt::format("outb 0x{:x} 0x{:x}", port, v)); }
void QTestState::outw(uint16_t port, uint16_t v) { checked(fmt::format("outw 0x{:x} 0x{:x}", port, v)); }
void QTestState::outl(uint16_t port, uint32_t v) { checked(fmt::format("outl 0x{:x} 0x{:x}", port, v)); }
uint8_t QTestState::readb(uint64_t a) { return static_cast<uint8_t>(checked_number(fmt::format("readb 0x{:x}", a))); }
uint16_t QTestState::readw(uint64_t a) { return static_cast<uint16_t>(checked_number(fmt::format("readw 0x{:x}", a))); }
uint32_t QTestState::readl(uint64_t a) { return static_cast<uint32_t>(checked_number(fmt::format("readl 0x{:x}", a))); }
uint64_t QTestState::readq(uint64_t a) { return checked_number(fmt::format("readq 0x{:x}", a)); }
void QTestState::writeb(uint64_t a, uint8_t v) { checked(fmt::format("writeb 0x{:x} 0x{:x}", a, v)); }
void QTestState::writew(uint64_t a, uint16_t v) { checked(fmt::format("writew 0x{:x} 0x{:x}", a, v)); }
void QTestState::writel(uint64_t a, uint32_t v) { checked(fmt::format("writel 0x{:x} 0x{:x}", a, v)); }
void QTestState::writeq(uint64_t a, uint64_t v) { checked(fmt::format("writeq 0x{:x} 0x{:x}", a, v)); }

std::vector<uint8_t> QTestState::memread(uint64_t addr, size_t size) {
  std::string line = fmt::format("read 0x{:x} 0x{:x}", addr, size);
  std::string hex = checked(line);
  if (hex.size() != 2 + 2 * size || hex.rfind("0x", 0) != 0) fail(fmt::format("qtest '{}' answered '{}'", line, hex));
  std::vector<uint8_t> out(size);
  for (size_t i = 0; i < size; ++i) out[i] = static_cast<uint8_t>(std::stoul(hex.substr(2 + 2 * i, 2), nullptr, 16));
  return out;
}

void QTestState::memwrite(uint64_t addr, std::span<const uint8_t> data) {
  checked(fmt::format("write 0x{:x} 0x{:x} {}", addr, data.size(), hex_of(data)));
}

std::vector<uint8_t> QTestState::bufread(uint64_t addr, size_t size) {
  std::string line = fmt::format("b64read 0x{:x} 0x{:x}", addr, size);
  auto data = base64_decode(checked(line));
  if (!data || data->size() != size) fail(fmt::format("qtest '{}': bad base64 answer", line));
  return *data;
}

void QTestState::bufwrite(uint64_t addr, std::span<const uint8_t> data) {
  checked(fmt::format("b64write 0x{:x} 0x{:x} {}", addr, data.size(), base64_encode(data)));
}

void QTestState::memset(uint64_t addr, size_t size, uint8_t value) {
  checked(fmt::format("memset 0x{:x} 0x{:x} 0x{:x}", addr, size, value));
}

int64_t QTestState::clock_step(std::optional<int64_t> ns) {
  return static_cast<int64_t>(checked_number(ns ? fmt::format("clock_step {}", *ns) : std::string("clock_step")));
}

int64_t QTestState::clock_set(int64_t ns) {
  return static_cast<int64_t>(checked_number(fmt::format("clock_set {}", ns)));
}

void QTestState::irq_intercept_in(std::string_view qom_path) { checked(fmt::format("irq_intercept_in {}", qom_path)); }

void QTestState::set_irq_in(std::string_view qom_path, int num, int level) {
  checked(fmt::format("set_irq_in {} unnamed-gpio-in {} {}", qom_path, num, level));
}

bool QTestState::get_irq(int num) {
  checked("endianness");  // a round trip, so IRQ lines sent before now are counted
  if (num < 0 || num >= static_cast<int>(irq_levels_.size())) fail(fmt::format("IRQ {} out of range", num));
  return irq_levels_[num] != 0;
}

uint64_t QTestState::msi_count() { return checked_number("msi_count"); }

// --- QMP ---

nlohmann::json QTestState::read_qmp_message() {
  for (;;) {
    if (auto text = qmp_stream_.next()) {
      if (verbose()) fmt::print(stderr, "qmp< {}\n", *text);
      nlohmann::json msg = nlohmann::json::parse(*text, nullptr, false);
      if (msg.is_discarded()) fail("the emulator sent invalid JSON on QMP: " + text->substr(0, 200));
      return msg;
    }
    wait_readable(qmp_fd_.get());
    char buf[65536];
    ssize_t r = ::read(qmp_fd_.get(), buf, sizeof buf);
    if (r == 0) fail("the emulator closed the QMP connection");
    if (r < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      fail(fmt::format("reading the QMP socket: {}", std::strerror(errno)));
    }
    qmp_stream_.feed(std::string_view(buf, static_cast<size_t>(r)));
  }
}

void QTestState::qmp_send_raw(std::string_view bytes) {
  if (verbose()) fmt::print(stderr, "qmp> {}\n", bytes);
  while (!bytes.empty()) {
    ssize_t w = ::send(qmp_fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(fmt::format("writing the QMP socket: {}", std::strerror(errno)));
    }
    bytes.remove_prefix(static_cast<size_t>(w));
  }
}

nlohmann::json QTestState::qmp_receive() {
  for (;;) {
    nlohmann::json msg = read_qmp_message();
    if (msg.is_object() && msg.contains("event")) {
      events_.push_back(std::move(msg));
      continue;
    }
    return msg;
  }
}

nlohmann::json QTestState::qmp(const nlohmann::json& command) {
  qmp_send_raw(command.dump() + "\n");
  return qmp_receive();
}

nlohmann::json QTestState::qmp(std::string_view json_text) {
  nlohmann::json cmd = nlohmann::json::parse(json_text, nullptr, false);
  if (cmd.is_discarded()) throw QTestError("libqtest: qmp() given invalid JSON: " + std::string(json_text));
  return qmp(cmd);
}

nlohmann::json QTestState::qmp_eventwait(std::string_view name, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if ((*it)["event"] == name) {
        nlohmann::json e = std::move(*it);
        events_.erase(it);
        return e;
      }
    }
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) fail(fmt::format("no QMP event {} in time", name));
    struct pollfd p = {qmp_fd_.get(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 100))) <= 0) continue;
    nlohmann::json msg = read_qmp_message();
    if (msg.is_object() && msg.contains("event")) events_.push_back(std::move(msg));
    else fail("unexpected QMP message while waiting for an event: " + msg.dump());
  }
}

std::vector<nlohmann::json> QTestState::take_events() {
  std::vector<nlohmann::json> out(std::make_move_iterator(events_.begin()), std::make_move_iterator(events_.end()));
  events_.clear();
  return out;
}

ExitStatus QTestState::quit() {
  if (exit_) return *exit_;
  exit_ = child_.terminate(options_.quit_grace, &killed_);
  qtest_fd_.reset();
  qmp_fd_.reset();
  return *exit_;
}

}  // namespace nahanni::qtest
