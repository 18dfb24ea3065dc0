#include "commands.h"

#include <charconv>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "util/log.h"

namespace nahanni::ivshmem {
namespace {

std::optional<unsigned> parse_unsigned(const std::string& text) {
  unsigned v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

void print_help(std::FILE* out) {
  fmt::print(out,
             "dump: list the peers and their vectors\n"
             "int PEER VECTOR: ring PEER on VECTOR\n"
             "int PEER all: ring PEER on every vector\n"
             "int all: ring every other peer on every vector\n"
             "wait-peer PEER [VECTORS]: hold the script until PEER is connected\n"
             "help, ?: this text\n");
}

}  // namespace

void CommandScript::append(std::string_view text) {
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ';') {
      queue_.push_back(std::move(partial_));
      partial_.clear();
    } else {
      partial_ += c;
    }
  }
}

bool CommandScript::run(IvshmemClient& client) {
  while (!queue_.empty()) {
    switch (execute(client, queue_.front())) {
      case Outcome::kWait: return true;
      case Outcome::kFailed: queue_.pop_front(); return false;
      case Outcome::kDone: queue_.pop_front(); break;
    }
  }
  return true;
}

CommandScript::Outcome CommandScript::execute(IvshmemClient& client, const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.empty()) return Outcome::kDone;
  const std::string& cmd = words[0];
  if (cmd == "help" || cmd == "?") {
    print_help(out_);
    return Outcome::kDone;
  }
  if (cmd == "dump" && words.size() == 1) {
    client.dump(out_);
    return Outcome::kDone;
  }
  if (cmd == "wait-peer" && (words.size() == 2 || words.size() == 3)) {
    auto peer = parse_unsigned(words[1]);
    auto vectors = words.size() == 3 ? parse_unsigned(words[2]) : std::optional<unsigned>(1);
    if (!peer || *peer > 65535 || !vectors) {
      log::errorf("invalid command '{}'", line);
      return Outcome::kFailed;
    }
    return client.vectors_of(static_cast<uint16_t>(*peer)) >= *vectors ? Outcome::kDone : Outcome::kWait;
  }
  if (cmd == "int" && words.size() == 2 && words[1] == "all") {
    if (auto st = client.notify_everyone(); !st) {
      log::error(st.error());
      return Outcome::kFailed;
    }
    return Outcome::kDone;
  }
  if (cmd == "int" && words.size() == 3) {
    auto peer = parse_unsigned(words[1]);
    if (!peer || *peer > 65535) {
      log::errorf("invalid peer '{}'", words[1]);
      return Outcome::kFailed;
    }
    Status st;
    if (words[2] == "all") {
      st = client.notify_peer_all(static_cast<uint16_t>(*peer));
    } else if (auto vector = parse_unsigned(words[2])) {
      st = client.notify(static_cast<uint16_t>(*peer), *vector);
    } else {
      log::errorf("invalid vector '{}'", words[2]);
      return Outcome::kFailed;
    }
    if (!st) {
      log::error(st.error());
      return Outcome::kFailed;
    }
    return Outcome::kDone;
  }
  log::errorf("invalid command '{}', try 'help'", line);
  return Outcome::kFailed;
}

}  // namespace nahanni::ivshmem
