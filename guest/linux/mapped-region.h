// A shared mapping of part of a file (a sysfs resourceN file, a uio map, a memfd in tests).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "util/error.h"

namespace nahanni::guest {

class MappedRegion {
 public:
  MappedRegion() = default;
  MappedRegion(MappedRegion&& o) noexcept : base_(std::exchange(o.base_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  MappedRegion& operator=(MappedRegion&& o) noexcept;
  MappedRegion(const MappedRegion&) = delete;
  MappedRegion& operator=(const MappedRegion&) = delete;
  ~MappedRegion();

  // Maps size bytes at offset of fd (read-write, MAP_SHARED). size 0 maps the whole file.
  static Result<MappedRegion> map_fd(int fd, size_t size, const std::string& what);
  static Result<MappedRegion> map_file(const std::string& path, size_t size);

  uint8_t* data() const { return static_cast<uint8_t*>(base_); }
  size_t size() const { return size_; }
  bool valid() const { return base_ != nullptr; }

 private:
  MappedRegion(void* base, size_t size) : base_(base), size_(size) {}
  void* base_ = nullptr;
  size_t size_ = 0;
};

}  // namespace nahanni::guest
