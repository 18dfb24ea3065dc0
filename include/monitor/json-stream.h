// Splits a QMP byte stream into complete top-level JSON texts. Bytes arrive in arbitrary chunks;
// the splitter tracks nesting, strings and escapes, so a message is handed on only once its last
// closing brace (or the end of a top-level scalar) is seen. As QMP clients expect, a byte that
// cannot occur in JSON (a control character, 0xFF) is reported and resets the splitter, which is
// how a client recovers a confused stream. QEMU's single-quoted strings are accepted and handed
// on rewritten as standard JSON.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace nahanni {

struct JsonStreamItem {
  bool is_error = false;
  // A complete JSON text, or, when is_error, the message to reply ("JSON parse error, ...").
  std::string text;
};

class JsonStreamSplitter {
 public:
  static constexpr size_t kDefaultMaxMessage = size_t{1} << 20;
  static constexpr size_t kMaxNesting = 1024;

  explicit JsonStreamSplitter(size_t max_message = kDefaultMaxMessage) : max_message_(max_message) {}

  // Appends what `data` completes to `out`, in stream order.
  void feed(std::span<const uint8_t> data, std::vector<JsonStreamItem>& out);
  void feed(std::string_view data, std::vector<JsonStreamItem>& out) {
    feed(std::span(reinterpret_cast<const uint8_t*>(data.data()), data.size()), out);
  }
  // Forgets any partial message (a new connection).
  void reset();

 private:
  enum class State { Idle, InValue, InString, InStringEscape, InTopScalar };

  void byte(uint8_t c, std::vector<JsonStreamItem>& out);
  void value_byte(uint8_t c, std::vector<JsonStreamItem>& out);
  void append(char c, std::vector<JsonStreamItem>& out);
  void append(std::string_view s, std::vector<JsonStreamItem>& out);
  bool end_word(std::vector<JsonStreamItem>& out);
  void finish_message(std::vector<JsonStreamItem>& out);
  void stray(uint8_t c, std::vector<JsonStreamItem>& out);
  void fail(std::string message, std::vector<JsonStreamItem>& out);

  size_t max_message_;
  State state_ = State::Idle;
  std::string buffer_;
  std::string word_;        // the bare word (keyword or number) being read
  size_t depth_ = 0;
  char quote_ = '"';        // the quote that opened the current string
  bool discarding_ = false;  // over the size limit: track structure, keep nothing
};

}  // namespace nahanni
