#include "json-stream.h"

namespace nahanni::qtest {

std::optional<std::string> JsonStream::next() {
  for (; scanned_ < buffer_.size(); ++scanned_) {
    char c = buffer_[scanned_];
    if (in_string_) {
      if (escaped_) escaped_ = false;
      else if (c == '\\') escaped_ = true;
      else if (c == '"') in_string_ = false;
      continue;
    }
    if (!started_) {
      if (c == '{' || c == '[') {
        started_ = true;
        // Drop whatever came before the value (newlines between messages).
        buffer_.erase(0, scanned_);
        scanned_ = 0;
        depth_ = 1;
      }
      continue;
    }
    if (c == '"') in_string_ = true;
    else if (c == '{' || c == '[') ++depth_;
    else if ((c == '}' || c == ']') && --depth_ == 0) {
      std::string value = buffer_.substr(0, scanned_ + 1);
      buffer_.erase(0, scanned_ + 1);
      scanned_ = 0;
      started_ = false;
      return value;
    }
  }
  if (!started_) {  // nothing but whitespace (or junk) between values
    buffer_.clear();
    scanned_ = 0;
  }
  return std::nullopt;
}

}  // namespace nahanni::qtest
