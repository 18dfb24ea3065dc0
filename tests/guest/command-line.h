// The guest's command line (hvm_start_info.cmdline_paddr), split into steps: a known step name
// starts a step, "key=value" words and bare flags after it belong to it. Words before the first
// step are global options (e.g. "watchdog=30 device=0 reassign").
#pragma once

#include <cstdint>

namespace nahanni::guest {

struct Word {
  const char* key = nullptr;
  const char* value = nullptr;  // nullptr for a bare flag
};

struct Step {
  static constexpr int kMaxWords = 8;
  const char* name = nullptr;
  Word words[kMaxWords];
  int word_count = 0;

  bool has(const char* key) const;
  // The value of key=, or nullptr.
  const char* find(const char* key) const;
};

struct CommandLine {
  static constexpr int kMaxSteps = 32;
  Step global;  // name == "global"
  Step steps[kMaxSteps];
  int step_count = 0;
};

// Splits `text` (copied into an internal buffer). is_step_name tells step names from flags.
// Returns false with *error set when the line has too many steps or words.
bool parse_command_line(const char* text, bool (*is_step_name)(const char*), CommandLine* out,
                        const char** error);

bool str_equal(const char* a, const char* b);
// Parses decimal or 0x-prefixed hexadecimal; false on anything else.
bool parse_u64(const char* text, uint64_t* out);

}  // namespace nahanni::guest
