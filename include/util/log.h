// Messages in QEMU's form: "PROGRAM: [LOCATION: ][warning: ]message", one line on stderr.
// A LocationScope names the option being processed ("-device ivshmem-plain,memdev=m"), so
// every message printed while it lives carries that option as typed.
#pragma once

#include <fmt/format.h>

#include <string>
#include <string_view>

#include "util/error.h"

namespace nahanni::log {

void set_program_name(std::string name);
const std::string& program_name();
// -msg timestamp=on: prefix each line with an ISO-8601 UTC timestamp.
void set_timestamps(bool on);
// Where messages go (stderr by default); tests may capture them.
void set_sink(void (*sink)(std::string_view line));

void error(std::string_view message);
void warning(std::string_view message);
void info(std::string_view message);
// Prints an Error (and its hint line, if any).
void error(const Error& err);

template <typename... Args>
void errorf(fmt::format_string<Args...> f, Args&&... args) { error(std::string_view(fmt::format(f, std::forward<Args>(args)...))); }
template <typename... Args>
void warnf(fmt::format_string<Args...> f, Args&&... args) { warning(fmt::format(f, std::forward<Args>(args)...)); }
template <typename... Args>
void infof(fmt::format_string<Args...> f, Args&&... args) { info(fmt::format(f, std::forward<Args>(args)...)); }

// Plain extra line, as QEMU's error_printf after a report (hints such as "Please use ...").
void hint(std::string_view line);

class LocationScope {
 public:
  explicit LocationScope(std::string location);
  ~LocationScope();
  LocationScope(const LocationScope&) = delete;
  LocationScope& operator=(const LocationScope&) = delete;

 private:
  std::string previous_;
};

}  // namespace nahanni::log
