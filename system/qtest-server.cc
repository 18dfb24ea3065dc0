#include "system/qtest-server.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "accel/qtest-accel.h"
#include "hw/core/irq.h"
#include "hw/core/machine.h"
#include "qom/object.h"
#include "system/memory.h"
#include "system/virtual-clock.h"
#include "util/base64.h"

namespace nahanni {

namespace {

constexpr std::string_view kUnnamedGpioIn = "unnamed-gpio-in";
constexpr size_t kMaxEchoed = 64;  // characters of a user's word quoted back in a FAIL reply

// A word as it may be quoted in a reply or the log: printable ASCII kept, the rest escaped,
// long words cut, so that a reply is always one clean line.
std::string printable(std::string_view word) {
  std::string out;
  for (size_t i = 0; i < word.size(); ++i) {
    if (out.size() >= kMaxEchoed) {
      out += "...";
      break;
    }
    auto c = static_cast<unsigned char>(word[i]);
    if (c > 0x20 && c < 0x7f && c != '\\') out += static_cast<char>(c);
    else out += fmt::format("\\x{:02x}", c);
  }
  return out;
}

// strtoull with base 0, strictly: 0x hex, leading-0 octal or decimal, the whole word, no overflow.
std::optional<uint64_t> parse_u64(std::string_view s) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s.remove_prefix(2);
  } else if (s.size() > 1 && s[0] == '0') {
    base = 8;
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
    else return std::nullopt;
    if (d >= base) return std::nullopt;
    if (v > (UINT64_MAX - static_cast<uint64_t>(d)) / static_cast<uint64_t>(base)) return std::nullopt;
    v = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
  }
  return v;
}

std::optional<int64_t> parse_i64(std::string_view s) {
  bool negative = !s.empty() && s[0] == '-';
  if (negative) s.remove_prefix(1);
  auto v = parse_u64(s);
  if (!v) return std::nullopt;
  if (negative) {
    if (*v > static_cast<uint64_t>(INT64_MAX) + 1) return std::nullopt;
    return static_cast<int64_t>(0 - *v);
  }
  if (*v > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
  return static_cast<int64_t>(*v);
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

uint64_t width_mask(unsigned size) { return size == 8 ? ~0ull : (1ull << (size * 8)) - 1; }

std::string fail(std::string_view reason) { return fmt::format("FAIL {}", reason); }

// Parsing of a request's arguments with the reply for the first bad one.
class Args {
 public:
  Args(const std::vector<std::string_view>& words, std::string usage) : words_(words), usage_(std::move(usage)) {}

  // Checks the argument count (without the command word); sets the usage reply on mismatch.
  bool count(size_t min, size_t max) {
    size_t n = words_.size() - 1;
    if (n < min) return bad(fmt::format("usage: {}", usage_));
    if (n > max) return bad(fmt::format("too many arguments; usage: {}", usage_));
    return true;
  }
  bool count(size_t n) { return count(n, n); }
  size_t size() const { return words_.size() - 1; }
  std::string_view word(size_t i) const { return words_[i]; }

  bool number(size_t i, uint64_t& out) {
    auto v = parse_u64(words_[i]);
    if (!v) return bad(fmt::format("invalid number '{}'", printable(words_[i])));
    out = *v;
    return true;
  }
  bool signed_number(size_t i, int64_t& out) {
    auto v = parse_i64(words_[i]);
    if (!v) return bad(fmt::format("invalid number '{}'", printable(words_[i])));
    out = *v;
    return true;
  }
  bool port(size_t i, uint64_t& out) {
    if (!number(i, out)) return false;
    if (out > 0xffff) return bad(fmt::format("port address 0x{:x} out of range (0x0..0xffff)", out));
    return true;
  }
  // A guest-physical range of `size` bytes that does not wrap past 2^64.
  bool range(uint64_t addr, uint64_t size) {
    if (size > 0 && addr + (size - 1) < addr) return bad("address range wraps around the address space");
    return true;
  }
  bool data_size(size_t i, uint64_t& out, uint64_t limit, bool allow_zero) {
    if (!number(i, out)) return false;
    if (out == 0 && !allow_zero) return bad("size must not be 0");
    if (out > limit) return bad(fmt::format("size 0x{:x} larger than the limit 0x{:x}", out, limit));
    return true;
  }

  bool bad(std::string reason) {
    reply_ = fail(reason);
    return false;
  }
  std::string reply() && { return std::move(reply_); }

 private:
  const std::vector<std::string_view>& words_;
  std::string usage_;
  std::string reply_;
};

std::vector<std::string_view> split_words(std::string_view line) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

// The qtest log: "[R +t]" requests, "[S +t]" replies, "[I t]" connection events, t in seconds
// since the connection opened.
struct QtestServer::Log {
  std::FILE* file = nullptr;
  bool owned = false;
  std::chrono::steady_clock::time_point start = std::chrono::steady_clock::now();

  ~Log() {
    if (owned && file) std::fclose(file);
  }
  std::string elapsed() const {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    return fmt::format("{}.{:06}", us / 1000000, us % 1000000);
  }
  void line(char kind, std::string_view text) {
    if (!file) return;
    fmt::print(file, "[{} +{}] {}\n", kind, elapsed(), text);
    std::fflush(file);
  }
};

// The device whose inputs this session intercepts, and the levels last reported for them.
struct QtestServer::Intercept {
  const Object* device = nullptr;  // identity only, never dereferenced: the device may go away
  std::vector<int> levels;
};

// Stand-ins for machines without memory or ports ("-machine none"): everything unassigned.
struct QtestServer::EmptySpaces {
  std::unique_ptr<MemoryRegion> memory_root = MemoryRegion::container("qtest-empty-memory", UINT64_MAX);
  std::unique_ptr<MemoryRegion> io_root = MemoryRegion::container("qtest-empty-io", 0x10000);
  AddressSpace memory{"qtest-empty-memory", memory_root.get(), 0};
  AddressSpace io{"qtest-empty-io", io_root.get(), 0xff};
};

QtestTarget qtest_default_target() {
  QtestTarget t;
  t.memory = [] {
    Machine* m = current_machine();
    return m ? m->memory() : nullptr;
  };
  t.io = [] {
    Machine* m = current_machine();
    return m ? m->io() : nullptr;
  };
  t.resolve = [](std::string_view path) { return resolve_path(path); };
  if (QtestAccel* accel = current_qtest_accel()) {
    t.clock = &virtual_clock();
    t.msis = &accel->msis();
  }
  return t;
}

Result<std::unique_ptr<QtestServer>> QtestServer::create(QtestTarget target, Output output, std::string_view log,
                                                         QtestLimits limits) {
  auto l = std::make_unique<Log>();
  if (log.empty()) {
    l->file = stderr;
  } else if (log != "none") {
    std::string path(log);
    l->file = std::fopen(path.c_str(), "w");
    if (!l->file) return Error::format("can't open qtest log file '{}': {}", path, std::strerror(errno));
    l->owned = true;
  }
  return std::unique_ptr<QtestServer>(new QtestServer(std::move(target), std::move(output), std::move(l), limits));
}

QtestServer::QtestServer(QtestTarget target, Output output, std::unique_ptr<Log> log, QtestLimits limits)
    : target_(std::move(target)),
      output_(std::move(output)),
      log_(std::move(log)),
      limits_(limits),
      intercept_(std::make_unique<Intercept>()),
      self_(std::make_shared<QtestServer*>(this)) {}

QtestServer::~QtestServer() { *self_ = nullptr; }

void QtestServer::opened() {
  // A client chardev may report the connection it made before we attached as well as after.
  if (open_) return;
  open_ = true;
  std::fill(intercept_->levels.begin(), intercept_->levels.end(), 0);
  log_->start = std::chrono::steady_clock::now();
  if (log_->file) {
    fmt::print(log_->file, "[I 0.000000] OPENED\n");
    std::fflush(log_->file);
  }
}

void QtestServer::closed() {
  if (!open_) return;
  open_ = false;
  if (log_->file) {
    fmt::print(log_->file, "[I +{}] CLOSED\n", log_->elapsed());
    std::fflush(log_->file);
  }
  pending_.clear();
  discarding_ = false;
}

void QtestServer::send(std::string_view line) {
  log_->line('S', line);
  std::string text;
  text.reserve(line.size() + 1);
  text.append(line);
  text += '\n';
  if (output_) output_(text);
}

void QtestServer::receive(std::span<const uint8_t> bytes) {
  std::string_view data(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!data.empty()) {
    size_t nl = data.find('\n');
    std::string_view chunk = data.substr(0, nl);
    if (!discarding_ && pending_.size() + chunk.size() > limits_.max_line) {
      discarding_ = true;
      pending_.clear();
      pending_.shrink_to_fit();
    }
    if (!discarding_) pending_.append(chunk);
    if (nl == std::string_view::npos) return;
    data.remove_prefix(nl + 1);
    if (discarding_) {
      discarding_ = false;
      log_->line('R', "<overlong line>");
      send(fail(fmt::format("line longer than {} bytes", limits_.max_line)));
      continue;
    }
    std::string line = std::move(pending_);
    pending_.clear();
    process_line(line);
  }
}

void QtestServer::process_line(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string_view> words = split_words(line);
  if (words.empty()) return;  // blank lines are ignored, as in QEMU since 10.2
  if (log_->file) {
    std::string logged;
    for (size_t i = 0; i < words.size(); ++i) {
      if (i) logged += ' ';
      logged += printable(words[i]);  // data words can be megabytes: the log keeps their start
    }
    log_->line('R', logged);
  }
  send(execute(words));
}

AddressSpace& QtestServer::memory() {
  if (AddressSpace* as = target_.memory ? target_.memory() : nullptr) return *as;
  if (!empty_) empty_ = std::make_unique<EmptySpaces>();
  return empty_->memory;
}

AddressSpace& QtestServer::io() {
  if (AddressSpace* as = target_.io ? target_.io() : nullptr) return *as;
  if (!empty_) empty_ = std::make_unique<EmptySpaces>();
  return empty_->io;
}

std::string QtestServer::execute(const std::vector<std::string_view>& w) {
  std::string_view cmd = w[0];
  if (cmd == "outb") return cmd_out(w, 1);
  if (cmd == "outw") return cmd_out(w, 2);
  if (cmd == "outl") return cmd_out(w, 4);
  if (cmd == "inb") return cmd_in(w, 1);
  if (cmd == "inw") return cmd_in(w, 2);
  if (cmd == "inl") return cmd_in(w, 4);
  if (cmd == "writeb") return cmd_writen(w, 1);
  if (cmd == "writew") return cmd_writen(w, 2);
  if (cmd == "writel") return cmd_writen(w, 4);
  if (cmd == "writeq") return cmd_writen(w, 8);
  if (cmd == "readb") return cmd_readn(w, 1);
  if (cmd == "readw") return cmd_readn(w, 2);
  if (cmd == "readl") return cmd_readn(w, 4);
  if (cmd == "readq") return cmd_readn(w, 8);
  if (cmd == "read") return cmd_read(w, false);
  if (cmd == "b64read") return cmd_read(w, true);
  if (cmd == "write") return cmd_write(w);
  if (cmd == "b64write") return cmd_b64write(w);
  if (cmd == "memset") return cmd_memset(w);
  if (cmd == "endianness") {
    Args a(w, "endianness");
    return a.count(0) ? "OK little" : std::move(a).reply();
  }
  if (cmd == "irq_intercept_in") return cmd_irq_intercept(w, true);
  if (cmd == "irq_intercept_out") return cmd_irq_intercept(w, false);
  if (cmd == "set_irq_in") return cmd_set_irq_in(w);
  // As in QEMU, the clock commands exist only under the qtest accelerator.
  if (target_.clock && cmd == "clock_step") return cmd_clock_step(w);
  if (target_.clock && cmd == "clock_set") return cmd_clock_set(w);
  if (target_.msis && (cmd == "msi_count" || cmd == "msi_last" || cmd == "msi_clear")) return cmd_msi(w);
  return fmt::format("FAIL Unknown command '{}'", printable(cmd));
}

std::string QtestServer::cmd_out(const std::vector<std::string_view>& w, unsigned size) {
  Args a(w, fmt::format("{} ADDR VALUE", w[0]));
  uint64_t addr, value;
  if (!a.count(2) || !a.port(1, addr) || !a.number(2, value)) return std::move(a).reply();
  io().write_value(addr, value & width_mask(size), size);
  return "OK";
}

std::string QtestServer::cmd_in(const std::vector<std::string_view>& w, unsigned size) {
  Args a(w, fmt::format("{} ADDR", w[0]));
  uint64_t addr;
  if (!a.count(1) || !a.port(1, addr)) return std::move(a).reply();
  return fmt::format("OK 0x{:04x}", io().read_value(addr, size) & width_mask(size));
}

std::string QtestServer::cmd_writen(const std::vector<std::string_view>& w, unsigned size) {
  Args a(w, fmt::format("{} ADDR VALUE", w[0]));
  uint64_t addr, value;
  if (!a.count(2) || !a.number(1, addr) || !a.number(2, value) || !a.range(addr, size)) return std::move(a).reply();
  memory().write_value(addr, value & width_mask(size), size);
  return "OK";
}

std::string QtestServer::cmd_readn(const std::vector<std::string_view>& w, unsigned size) {
  Args a(w, fmt::format("{} ADDR", w[0]));
  uint64_t addr;
  if (!a.count(1) || !a.number(1, addr) || !a.range(addr, size)) return std::move(a).reply();
  return fmt::format("OK 0x{:016x}", memory().read_value(addr, size) & width_mask(size));
}

std::string QtestServer::cmd_read(const std::vector<std::string_view>& w, bool base64) {
  Args a(w, fmt::format("{} ADDR SIZE", w[0]));
  uint64_t addr, size;
  if (!a.count(2) || !a.number(1, addr) || !a.data_size(2, size, limits_.max_data, false) || !a.range(addr, size))
    return std::move(a).reply();
  std::vector<uint8_t> data(size);
  memory().read(addr, data);
  if (base64) return "OK " + base64_encode(data);
  std::string reply = "OK 0x";
  reply.reserve(5 + 2 * data.size());
  static constexpr char kHex[] = "0123456789abcdef";
  for (uint8_t b : data) {
    reply += kHex[b >> 4];
    reply += kHex[b & 15];
  }
  return reply;
}

std::string QtestServer::cmd_write(const std::vector<std::string_view>& w) {
  Args a(w, "write ADDR SIZE 0xDATA");
  uint64_t addr, size;
  if (!a.count(3) || !a.number(1, addr) || !a.data_size(2, size, limits_.max_data, false) || !a.range(addr, size))
    return std::move(a).reply();
  std::string_view hex = w[3];
  if (hex.size() < 3) return "ERR invalid argument size";  // QEMU's reply, ERR rather than FAIL
  if (hex[0] != '0' || (hex[1] != 'x' && hex[1] != 'X')) return fail("data must start with 0x");
  hex.remove_prefix(2);
  if (hex.size() % 2) return fail("odd number of hex digits");
  if (hex.size() / 2 > size) return fail(fmt::format("{} bytes of data for size {}", hex.size() / 2, size));
  std::vector<uint8_t> data(size, 0);  // bytes the data does not cover are written as zero
  for (size_t i = 0; i < hex.size() / 2; ++i) {
    int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return fail("invalid hex data");
    data[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  memory().write(addr, data);
  return "OK";
}

std::string QtestServer::cmd_b64write(const std::vector<std::string_view>& w) {
  Args a(w, "b64write ADDR SIZE BASE64");
  uint64_t addr, size;
  if (!a.count(3) || !a.number(1, addr) || !a.data_size(2, size, limits_.max_data, false) || !a.range(addr, size))
    return std::move(a).reply();
  if (w[3].size() < 3) return "ERR invalid argument size";
  auto decoded = base64_decode(w[3]);
  if (!decoded) return fail("invalid base64 data");
  // QEMU accepts a length mismatch; we write exactly SIZE bytes: truncated, or zero-filled.
  decoded->resize(size, 0);
  memory().write(addr, *decoded);
  return "OK";
}

std::string QtestServer::cmd_memset(const std::vector<std::string_view>& w) {
  Args a(w, "memset ADDR SIZE VALUE");
  uint64_t addr, size, value;
  if (!a.count(3) || !a.number(1, addr) || !a.data_size(2, size, limits_.max_data, true) || !a.number(3, value) ||
      !a.range(addr, size))
    return std::move(a).reply();
  if (size == 0) return "OK";
  std::vector<uint8_t> data(size, static_cast<uint8_t>(value));
  memory().write(addr, data);
  return "OK";
}

std::string QtestServer::cmd_clock_step(const std::vector<std::string_view>& w) {
  Args a(w, "clock_step [NS]");
  if (!a.count(0, 1)) return std::move(a).reply();
  VirtualClock& clock = *target_.clock;
  if (a.size() == 0) {
    if (!clock.step_to_next_deadline())
      return "FAIL cannot advance clock to the next deadline because there is no pending deadline";
    return fmt::format("OK {}", clock.now_ns());
  }
  uint64_t ns;
  if (!a.number(1, ns)) return std::move(a).reply();
  if (ns > static_cast<uint64_t>(VirtualClock::kMaxNs) || !clock.step(static_cast<int64_t>(ns)))
    return "FAIL could not advance time";
  return fmt::format("OK {}", clock.now_ns());
}

std::string QtestServer::cmd_clock_set(const std::vector<std::string_view>& w) {
  Args a(w, "clock_set NS");
  uint64_t ns;
  if (!a.count(1) || !a.number(1, ns)) return std::move(a).reply();
  VirtualClock& clock = *target_.clock;
  // Time never goes back: a past target leaves the clock where it is and says where that is.
  if (ns > static_cast<uint64_t>(VirtualClock::kMaxNs) || !clock.set(static_cast<int64_t>(ns)))
    return fmt::format("FAIL {}", clock.now_ns());
  return fmt::format("OK {}", clock.now_ns());
}

std::string QtestServer::cmd_irq_intercept(const std::vector<std::string_view>& w, bool in) {
  Args a(w, fmt::format("{} QOM-PATH{}", w[0], in ? "" : " [NAME]"));
  if (!a.count(1, 2)) return std::move(a).reply();
  Object* obj = target_.resolve ? target_.resolve(w[1]) : nullptr;
  if (!obj) return "FAIL Unknown device";
  if (intercept_->device) {
    if (intercept_->device == obj) return "OK";
    return "FAIL IRQ intercept already enabled";
  }
  if (in && a.size() == 2) return "FAIL Interception of named in-GPIOs not yet supported";
  // Our devices have no out-GPIO lists, so only the in form finds anything to intercept.
  auto* inputs = in ? dynamic_cast<IrqInputs*>(obj) : nullptr;
  if (!inputs || inputs->irq_count() == 0) return "FAIL No intercepts installed";
  intercept_->device = obj;
  intercept_->levels.assign(inputs->irq_count(), 0);
  inputs->intercept([self = self_](size_t n, int level) {
    if (*self) (*self)->irq_changed(n, level);
  });
  return "OK";
}

void QtestServer::irq_changed(size_t n, int level) {
  int normalized = level != 0;
  if (n >= intercept_->levels.size() || intercept_->levels[n] == normalized) return;
  intercept_->levels[n] = normalized;
  send(fmt::format("IRQ {} {}", normalized ? "raise" : "lower", n));
}

std::string QtestServer::cmd_set_irq_in(const std::vector<std::string_view>& w) {
  Args a(w, "set_irq_in QOM-PATH NAME NUM LEVEL");
  uint64_t num;
  int64_t level;
  if (!a.count(4) || !a.number(3, num) || !a.signed_number(4, level)) return std::move(a).reply();
  Object* obj = target_.resolve ? target_.resolve(w[1]) : nullptr;
  if (!obj) return "FAIL Unknown device";
  auto* inputs = dynamic_cast<IrqInputs*>(obj);
  if (w[2] != kUnnamedGpioIn || !inputs || inputs->irq_count() == 0)
    return fail(fmt::format("Unknown GPIO list '{}'", printable(w[2])));
  if (num >= inputs->irq_count())
    return fail(fmt::format("GPIO {} out of range (the device has {})", num, inputs->irq_count()));
  inputs->set_irq(num, level != 0 ? 1 : 0);
  return "OK";
}

std::string QtestServer::cmd_msi(const std::vector<std::string_view>& w) {
  Args a(w, std::string(w[0]));
  if (!a.count(0)) return std::move(a).reply();
  MsiLog& msis = *target_.msis;
  if (w[0] == "msi_count") return fmt::format("OK {}", msis.count());
  if (w[0] == "msi_clear") {
    msis.clear();
    return "OK";
  }
  auto last = msis.last();
  if (!last) return "FAIL no MSI delivered";
  return fmt::format("OK 0x{:016x} 0x{:08x}", last->address, last->data);
}

}  // namespace nahanni
