#include "util/log.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <ctime>

namespace nahanni::log {
namespace {

std::string g_program = "nahanni";
std::string g_location;
bool g_timestamps = false;

void stderr_sink(std::string_view line) {
  // One write per line so lines from different processes do not interleave.
  std::string buf(line);
  buf += '\n';
  ssize_t unused = ::write(STDERR_FILENO, buf.data(), buf.size());
  (void)unused;
}
void (*g_sink)(std::string_view) = stderr_sink;

std::string timestamp_prefix() {
  if (!g_timestamps) return {};
  timeval tv{};
  gettimeofday(&tv, nullptr);
  tm utc{};
  gmtime_r(&tv.tv_sec, &utc);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &utc);
  return fmt::format("{}.{:06d}Z ", buf, static_cast<int>(tv.tv_usec));
}

void emit(std::string_view kind, std::string_view message) {
  std::string line = timestamp_prefix() + g_program + ": ";
  if (!g_location.empty()) line += g_location + ": ";
  line += kind;
  line += message;
  g_sink(line);
}

}  // namespace

void set_program_name(std::string name) { g_program = std::move(name); }
const std::string& program_name() { return g_program; }
void set_timestamps(bool on) { g_timestamps = on; }
void set_sink(void (*sink)(std::string_view)) { g_sink = sink ? sink : stderr_sink; }

void error(std::string_view message) { emit("", message); }
void warning(std::string_view message) { emit("warning: ", message); }
void info(std::string_view message) { emit("info: ", message); }
void hint(std::string_view line) { g_sink(line); }

void error(const Error& err) {
  emit("", err.message());
  if (!err.hint().empty()) g_sink(err.hint());
}

LocationScope::LocationScope(std::string location) : previous_(std::move(g_location)) {
  g_location = std::move(location);
}
LocationScope::~LocationScope() { g_location = std::move(previous_); }

}  // namespace nahanni::log
