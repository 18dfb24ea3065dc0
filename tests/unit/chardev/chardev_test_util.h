// Helpers shared by the chardev tests: a scratch directory, a recording frontend, and a way to
// run the main loop until something has happened (bounded, so a bug fails instead of hanging).
#pragma once

#include <gtest/gtest.h>

#include <stdlib.h>
#include <sys/socket.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "chardev/char.h"
#include "system/main-loop.h"
#include "util/keyval.h"
#include "util/log.h"

namespace nahanni::test {

class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/nn-chardev-XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~ScratchDir() { std::filesystem::remove_all(path_); }
  std::string file(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Runs the main loop until `done` holds; false if it never does within a generous bound.
inline bool pump_until(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    main_loop().run_once(std::chrono::milliseconds(20));
  }
  return true;
}

// Lets whatever is already ready run (accepts, reads), without waiting.
inline void pump_ready() {
  for (int i = 0; i < 5; ++i) main_loop().run_once(std::chrono::milliseconds(0));
}

struct Recorder {
  std::string bytes;
  std::vector<UniqueFd> fds;
  std::vector<size_t> fd_offsets;  // bytes received before each fd's chunk
  std::vector<ChardevEvent> events;

  Chardev::Frontend frontend(size_t max_read = 0) {
    return Chardev::Frontend{
        .on_read =
            [this](std::span<const uint8_t> data, std::vector<UniqueFd>& in) {
              for (auto& fd : in) {
                fd_offsets.push_back(bytes.size());
                fds.push_back(std::move(fd));
              }
              bytes.append(reinterpret_cast<const char*>(data.data()), data.size());
            },
        .on_event = [this](ChardevEvent e) { events.push_back(e); },
        .max_read = max_read};
  }
};

inline Result<Chardev*> add_cli(std::string_view text) {
  NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(text, "backend"));
  return chardev_add(std::move(opts), OptionSource::CommandLine);
}

inline std::string add_cli_error(std::string_view text) {
  auto r = add_cli(text);
  return r ? std::string("<no error>") : r.error().message();
}

// Log lines captured while a LogCapture lives.
class LogCapture {
 public:
  LogCapture() {
    lines().clear();
    log::set_sink([](std::string_view line) { lines().emplace_back(line); });
  }
  ~LogCapture() { log::set_sink(nullptr); }
  static std::vector<std::string>& lines() {
    static std::vector<std::string> l;
    return l;
  }
};

inline std::span<const std::byte> as_bytes(std::string_view s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

// Reads what a peer socket has (blocking, up to `n` bytes in total).
inline std::string read_exact(int fd, size_t n) {
  std::string out;
  while (out.size() < n) {
    char buf[256];
    ssize_t r = ::recv(fd, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r <= 0) break;
    out.append(buf, static_cast<size_t>(r));
  }
  return out;
}

}  // namespace nahanni::test
