// A minimal blocking QMP client for the guest tests: the emulators run with a real
// accelerator here, not under libqtest, and are asked over -qmp unix:PATH,server=on,wait=off.
#pragma once

#include <poll.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "../contrib/test-support.h"
#include "util/socket.h"

namespace nahanni::guest::test {

class QmpClient {
 public:
  // Connects (retrying while the emulator starts), reads the greeting and leaves
  // negotiation mode. False when no monitor answered within the suite's patience.
  bool connect(const std::string& path) {
    bool up = ivshmem::test::eventually([&] {
      auto fd = unix_connect(path);
      if (!fd) return false;
      fd_ = std::move(*fd);
      return true;
    });
    if (!up) return false;
    auto greeting = read_message();
    if (!greeting || !greeting->contains("QMP")) return false;
    auto reply = execute("qmp_capabilities");
    return reply.contains("return");
  }

  // The whole reply ({"return": ...} or {"error": ...}); events in between are skipped.
  nlohmann::json execute(const std::string& command, const nlohmann::json& arguments = nullptr) {
    nlohmann::json request{{"execute", command}};
    if (!arguments.is_null()) request["arguments"] = arguments;
    std::string text = request.dump() + "\n";
    if (::write(fd_.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) return nullptr;
    while (auto message = read_message())
      if (!message->contains("event")) return *message;
    return nullptr;
  }

  nlohmann::json qom_get(const std::string& path, const std::string& property) {
    auto reply = execute("qom-get", {{"path", path}, {"property", property}});
    return reply.contains("return") ? reply["return"] : reply;
  }

 private:
  std::optional<nlohmann::json> read_message() {
    while (true) {
      auto newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        auto parsed = nlohmann::json::parse(line, nullptr, false);
        if (parsed.is_discarded()) return std::nullopt;
        return parsed;
      }
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(ivshmem::test::kPatience).count())) != 1)
        return std::nullopt;
      char chunk[4096];
      ssize_t n = ::read(fd_.get(), chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<size_t>(n));
    }
  }

  UniqueFd fd_;
  std::string buffer_;
};

}  // namespace nahanni::guest::test
