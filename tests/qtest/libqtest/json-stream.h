// Splits a QMP byte stream into whole JSON objects, whatever the framing (newline-terminated or
// not, split across reads): it tracks nesting outside strings and cuts at depth zero.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace nahanni::qtest {

class JsonStream {
 public:
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  // The next complete top-level value's text, if one has arrived.
  std::optional<std::string> next();

 private:
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ already scanned for the current value
  int depth_ = 0;
  bool in_string_ = false;
  bool escaped_ = false;
  bool started_ = false;
};

}  // namespace nahanni::qtest
