// A chardev for driving a Monitor in-process: the test plays the client, sending bytes and
// reading back the lines the monitor wrote.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chardev/char.h"

namespace nahanni::testing {

class FakeChardev : public Chardev {
 public:
  using Chardev::write_all;
  bool write_all(std::span<const uint8_t> data) override {
    if (!connected_) return false;
    written_.append(reinterpret_cast<const char*>(data.data()), data.size());
    return true;
  }
  bool connected() const override { return connected_; }
  Status complete() override { return {}; }

  void client_sends(std::string_view text) {
    std::vector<UniqueFd> fds;
    deliver(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()), fds);
  }
  void client_connects() {
    connected_ = true;
    deliver_event(ChardevEvent::Opened);
  }
  void client_disconnects() {
    connected_ = false;
    deliver_event(ChardevEvent::Closed);
  }
  // Complete "\r\n"-terminated lines written since the last call, without the terminator.
  std::vector<std::string> take_lines() {
    std::vector<std::string> lines;
    size_t pos;
    while ((pos = written_.find("\r\n")) != std::string::npos) {
      lines.push_back(written_.substr(0, pos));
      written_.erase(0, pos + 2);
    }
    return lines;
  }
  const std::string& unterminated() const { return written_; }

  bool connected_ = true;

 private:
  std::string written_;
};

}  // namespace nahanni::testing
