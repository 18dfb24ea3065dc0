// "No spinning" checks for the ivshmem fault and hotplug qtests: a process's CPU time over an
// interval, from /proc.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <sstream>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "ivshmem_test_support.h"

namespace nahanni::qtest::ivtest {

// CPU time (user + system) of `pid` in clock ticks, from /proc/<pid>/stat.
inline uint64_t cpu_ticks(pid_t pid) {
  std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
  size_t close = stat.rfind(')');  // the command name may hold spaces
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  uint64_t utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return utime + stime;
}

// Not a benchmark: a process spinning on a dead socket or a flood of messages burns a whole
// core; an idle one burns next to nothing. Half of the interval is a generous bound on a
// loaded 2-core machine.
inline bool stays_idle(pid_t pid, std::chrono::milliseconds interval = std::chrono::seconds(2)) {
  uint64_t before = cpu_ticks(pid);
  auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(interval);
  double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double cpu = static_cast<double>(cpu_ticks(pid) - before) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  return cpu < wall / 2;
}

}  // namespace nahanni::qtest::ivtest
