#include "command-line.h"

namespace nahanni::guest {
namespace {

char buffer[2048];

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

bool str_equal(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

bool parse_u64(const char* text, uint64_t* out) {
  if (!text || !*text) return false;
  uint64_t v = 0;
  unsigned base = 10;
  if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    base = 16;
    text += 2;
    if (!*text) return false;
  }
  for (; *text; ++text) {
    unsigned d;
    char c = *text;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (base == 16 && c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (base == 16 && c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return false;
    if (d >= base) return false;
    v = v * base + d;
  }
  *out = v;
  return true;
}

bool Step::has(const char* key) const {
  for (int i = 0; i < word_count; ++i)
    if (str_equal(words[i].key, key)) return true;
  return false;
}

const char* Step::find(const char* key) const {
  for (int i = 0; i < word_count; ++i)
    if (str_equal(words[i].key, key)) return words[i].value;
  return nullptr;
}

bool parse_command_line(const char* text, bool (*is_step_name)(const char*), CommandLine* out,
                        const char** error) {
  unsigned n = 0;
  if (text)
    while (text[n] && n + 1 < sizeof buffer) buffer[n] = text[n], ++n;
  buffer[n] = '\0';
  out->global.name = "global";
  Step* current = &out->global;
  char* p = buffer;
  while (true) {
    while (is_space(*p)) *p++ = '\0';
    if (!*p) break;
    char* word = p;
    char* equals = nullptr;
    while (*p && !is_space(*p)) {
      if (*p == '=' && !equals) equals = p;
      ++p;
    }
    if (*p) *p++ = '\0';
    if (equals) *equals = '\0';
    if (!equals && is_step_name(word)) {
      if (out->step_count == CommandLine::kMaxSteps) {
        *error = "too many steps";
        return false;
      }
      current = &out->steps[out->step_count++];
      current->name = word;
      continue;
    }
    if (current->word_count == Step::kMaxWords) {
      *error = "too many arguments for one step";
      return false;
    }
    current->words[current->word_count++] = Word{word, equals ? equals + 1 : nullptr};
  }
  return true;
}

}  // namespace nahanni::guest
