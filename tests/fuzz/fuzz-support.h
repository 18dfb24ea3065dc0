// Shared by the fuzz targets: the libFuzzer entry points, and FUZZ_CHECK for the invariants a
// target asserts. A failed check prints what broke and aborts, which libFuzzer records as a
// crash (input saved) and the corpus replay test reports as a failure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
// Optional one-time set-up; weak so a target may leave it out.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

#define FUZZ_CHECK(cond, ...)                                                           \
  do {                                                                                  \
    if (!(cond)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      ::nahanni::fuzz::print_context(__VA_ARGS__);                                      \
      std::abort();                                                                     \
    }                                                                                   \
  } while (0)

namespace nahanni::fuzz {

inline void print_context() {}
inline void print_context(std::string_view what) {
  std::fprintf(stderr, "  %.*s\n", static_cast<int>(what.size()), what.data());
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Reads a fuzz input front to back: the structured targets (the ivshmem ones) take their
// framing from it, and any read past the end yields zeros, so every input is valid.
class InputReader {
 public:
  InputReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  bool empty() const { return pos_ >= size_; }
  uint8_t byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  // Up to `n` bytes (fewer at the end).
  std::span<const uint8_t> bytes(size_t n) {
    size_t take = n < size_ - pos_ ? n : size_ - pos_;
    std::span<const uint8_t> out(data_ + pos_, take);
    pos_ += take;
    return out;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

}  // namespace nahanni::fuzz
