// The client's command language, shared by the interactive prompt and --exec:
//   dump | int PEER VECTOR | int PEER all | int all | wait-peer PEER [VECTORS] | help | ?
// Commands are separated by newlines, carriage returns or ';'. `wait-peer` holds the
// script until that peer is connected (with at least VECTORS vectors, default 1).
#pragma once

#include <cstdio>
#include <deque>
#include <string>
#include <string_view>

#include "client.h"

namespace nahanni::ivshmem {

class CommandScript {
 public:
  explicit CommandScript(std::FILE* out) : out_(out) {}

  void append(std::string_view text);
  // Runs queued commands until one waits or none is left. False if a command failed.
  bool run(IvshmemClient& client);
  bool done() const { return queue_.empty(); }

 private:
  enum class Outcome { kDone, kWait, kFailed };
  Outcome execute(IvshmemClient& client, const std::string& line);

  std::FILE* out_;
  std::deque<std::string> queue_;
  std::string partial_;  // text after the last separator, completed by the next append()
};

}  // namespace nahanni::ivshmem
