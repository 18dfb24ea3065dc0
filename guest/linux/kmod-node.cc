#include "kmod-node.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace nahanni::guest {

Result<KmodNode> KmodNode::open(const PciFunction& fn) {
  if (fn.driver != kKmodDriverName)
    return Error::format("{} is not bound to {} (driver: {})", fn.bdf, kKmodDriverName,
                         fn.driver.empty() ? "none" : fn.driver);
  std::string dir = fn.path() + "/misc";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Error::format("{}: no {} (is the {} module too old?)", fn.bdf, dir, kKmodDriverName);
  std::string name;
  while (dirent* e = ::readdir(d))
    if (std::strncmp(e->d_name, "ivshmem", 7) == 0) name = e->d_name;
  ::closedir(d);
  if (name.empty()) return Error::format("{}: no ivshmem node under {}", fn.bdf, dir);
  std::string path = "/dev/" + name;
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) return Error::format("cannot open {}: {}", path, std::strerror(errno));
  return KmodNode(std::move(path), std::move(fd));
}

Result<ivshmem_info> KmodNode::info() const {
  ivshmem_info info{};
  if (::ioctl(fd_.get(), IVSHMEM_IOC_INFO, &info) != 0)
    return Error::format("{}: IVSHMEM_IOC_INFO: {}", path_, std::strerror(errno));
  return info;
}

Status KmodNode::ring(uint16_t peer, uint16_t vector) const {
  ivshmem_ring ring{peer, vector, 0};
  if (::ioctl(fd_.get(), IVSHMEM_IOC_RING, &ring) != 0)
    return Error::format("{}: ringing peer {} vector {}: {}", path_, peer, vector, std::strerror(errno));
  return {};
}

Result<uint64_t> KmodNode::wait(std::chrono::milliseconds timeout) const {
  ivshmem_wait w{};
  // The ioctl takes a signed 32-bit millisecond count; longer waits are capped (callers loop).
  w.timeout_ms = static_cast<int32_t>(std::clamp<int64_t>(timeout.count(), 0, INT32_MAX));
  for (;;) {
    if (::ioctl(fd_.get(), IVSHMEM_IOC_WAIT, &w) == 0) return w.pending;
    if (errno != EINTR) return Error::format("{}: waiting for a ring: {}", path_, std::strerror(errno));
  }
}

}  // namespace nahanni::guest
