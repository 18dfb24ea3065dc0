#include "monitor/json-stream.h"

#include <fmt/format.h>

namespace nahanni {
namespace {

bool is_space(uint8_t c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters of a bare word: a keyword (true, false, null) or a number.
bool is_word_char(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '+' ||
         c == '-' || c == '.';
}

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

}  // namespace

void JsonStreamSplitter::reset() {
  state_ = State::Idle;
  buffer_.clear();
  word_.clear();
  depth_ = 0;
  discarding_ = false;
}

void JsonStreamSplitter::feed(std::span<const uint8_t> data, std::vector<JsonStreamItem>& out) {
  for (uint8_t c : data) byte(c, out);
}

void JsonStreamSplitter::fail(std::string message, std::vector<JsonStreamItem>& out) {
  reset();
  out.push_back(JsonStreamItem{.is_error = true, .text = std::move(message)});
}

void JsonStreamSplitter::stray(uint8_t c, std::vector<JsonStreamItem>& out) {
  // The character as the client sent it; a byte that is not ASCII shows as U+FFFD, as in QEMU.
  std::string shown = c < 0x80 ? std::string(1, static_cast<char>(c)) : std::string("\xEF\xBF\xBD");
  fail(fmt::format("JSON parse error, stray '{}'", shown), out);
}

void JsonStreamSplitter::append(std::string_view s, std::vector<JsonStreamItem>& out) {
  if (discarding_) return;
  if (buffer_.size() + s.size() > max_message_) {
    // Keep following the structure so the rest of this message is skipped, then go on.
    discarding_ = true;
    buffer_.clear();
    word_.clear();
    out.push_back(JsonStreamItem{
        .is_error = true, .text = fmt::format("JSON parse error, message exceeds {} bytes", max_message_)});
    return;
  }
  buffer_.append(s);
}

void JsonStreamSplitter::append(char c, std::vector<JsonStreamItem>& out) { append(std::string_view(&c, 1), out); }

bool JsonStreamSplitter::end_word(std::vector<JsonStreamItem>& out) {
  if (!discarding_ && is_letter(word_[0]) && word_ != "true" && word_ != "false" && word_ != "null") {
    fail(fmt::format("JSON parse error, invalid keyword '{}'", word_), out);
    return false;
  }
  return true;
}

void JsonStreamSplitter::finish_message(std::vector<JsonStreamItem>& out) {
  if (!discarding_) out.push_back(JsonStreamItem{.is_error = false, .text = std::move(buffer_)});
  reset();
}

void JsonStreamSplitter::byte(uint8_t c, std::vector<JsonStreamItem>& out) {
  switch (state_) {
    case State::Idle:
      if (is_space(c)) return;
      if (c == '{' || c == '[') {
        state_ = State::InValue;
        depth_ = 1;
        append(static_cast<char>(c), out);
      } else if (c == '"' || c == '\'') {
        state_ = State::InString;
        quote_ = static_cast<char>(c);
        append('"', out);
      } else if (is_word_char(c)) {
        state_ = State::InTopScalar;
        word_.assign(1, static_cast<char>(c));
      } else if (c == '}' || c == ']' || c == ':' || c == ',') {
        out.push_back(JsonStreamItem{.is_error = true, .text = "JSON parse error, expecting value"});
      } else {
        stray(c, out);
      }
      return;

    case State::InTopScalar:
      if (is_word_char(c)) {
        if (word_.size() >= max_message_) {
          fail(fmt::format("JSON parse error, message exceeds {} bytes", max_message_), out);
          return;
        }
        word_ += static_cast<char>(c);
        return;
      }
      if (!end_word(out)) {
        byte(c, out);
        return;
      }
      out.push_back(JsonStreamItem{.is_error = false, .text = std::move(word_)});
      reset();
      byte(c, out);  // the delimiter starts whatever comes next
      return;

    case State::InValue:
      value_byte(c, out);
      return;

    case State::InString:
      if (static_cast<char>(c) == quote_) {
        append('"', out);
        if (depth_ == 0) {
          finish_message(out);
        } else {
          state_ = State::InValue;
        }
      } else if (c == '\\') {
        state_ = State::InStringEscape;
      } else if (c < 0x20 || c == 0xFE || c == 0xFF) {
        stray(c, out);
      } else if (c == '"') {
        append("\\\"", out);  // a double quote inside a single-quoted string
      } else {
        append(static_cast<char>(c), out);
      }
      return;

    case State::InStringEscape:
      state_ = State::InString;
      if (c < 0x20 || c == 0xFE || c == 0xFF) {
        stray(c, out);
      } else if (c == '\'') {
        append('\'', out);  // QEMU's extension; standard JSON has no \'
      } else {
        append('\\', out);
        append(static_cast<char>(c), out);
      }
      return;
  }
}

void JsonStreamSplitter::value_byte(uint8_t c, std::vector<JsonStreamItem>& out) {
  if (is_word_char(c)) {
    if (!discarding_) {
      if (buffer_.size() + word_.size() >= max_message_) {
        append(word_ + static_cast<char>(c), out);  // reports the overflow
        return;
      }
      word_ += static_cast<char>(c);
    }
    return;
  }
  if (!word_.empty()) {
    if (!end_word(out)) {
      byte(c, out);
      return;
    }
    std::string word = std::move(word_);
    word_.clear();
    append(word, out);
  }
  if (is_space(c) || c == ':' || c == ',') {
    append(static_cast<char>(c), out);
  } else if (c == '{' || c == '[') {
    if (++depth_ > kMaxNesting) {
      fail("JSON parse error, nesting too deep", out);
      return;
    }
    append(static_cast<char>(c), out);
  } else if (c == '}' || c == ']') {
    append(static_cast<char>(c), out);
    if (--depth_ == 0) finish_message(out);
  } else if (c == '"' || c == '\'') {
    quote_ = static_cast<char>(c);
    state_ = State::InString;
    append('"', out);
  } else {
    stray(c, out);
  }
}

}  // namespace nahanni
