// A Monitor on a FakeChardev, with the client's side as plain strings.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "fake-chardev.h"
#include "monitor/monitor.h"

namespace nahanni::testing {

class MonitorClient {
 public:
  MonitorClient() : monitor_(chr_, false) {
    Status st = monitor_.attach();
    greeting_ = chr_.take_lines();
  }
  // Sends one request line; returns every line written in answer, events with their timestamp
  // replaced by "T" so tests can compare exact strings.
  std::vector<std::string> send(std::string_view text) {
    chr_.client_sends(text);
    return lines();
  }
  std::vector<std::string> lines() {
    static const std::regex kTimestamp(R"(\{"seconds": \d+, "microseconds": \d+\})");
    std::vector<std::string> out;
    for (std::string& l : chr_.take_lines()) out.push_back(std::regex_replace(l, kTimestamp, "T"));
    return out;
  }
  // The single reply line to a request.
  std::string ask(std::string_view text) {
    auto l = send(std::string(text) + "\n");
    return l.size() == 1 ? l[0] : "<" + std::to_string(l.size()) + " lines>";
  }
  void negotiate() { ask(R"({"execute":"qmp_capabilities"})"); }

  FakeChardev chr_;
  Monitor monitor_;
  std::vector<std::string> greeting_;
};

}  // namespace nahanni::testing
