#include "mapped-region.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "util/fd.h"

namespace nahanni::guest {

MappedRegion& MappedRegion::operator=(MappedRegion&& o) noexcept {
  if (this != &o) {
    if (base_) ::munmap(base_, size_);
    base_ = std::exchange(o.base_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

MappedRegion::~MappedRegion() {
  if (base_) ::munmap(base_, size_);
}

Result<MappedRegion> MappedRegion::map_fd(int fd, size_t size, const std::string& what) {
  if (size == 0) {
    struct stat st{};
    if (::fstat(fd, &st) != 0) return Error::format("cannot stat {}: {}", what, std::strerror(errno));
    size = static_cast<size_t>(st.st_size);
  }
  if (size == 0) return Error::format("{} is empty", what);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Error::format("cannot map {}: {}", what, std::strerror(errno));
  return MappedRegion(p, size);
}

Result<MappedRegion> MappedRegion::map_file(const std::string& path, size_t size) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC | O_SYNC));
  if (!fd) return Error::format("cannot open {}: {}", path, std::strerror(errno));
  return map_fd(fd.get(), size, path);
}

}  // namespace nahanni::guest
