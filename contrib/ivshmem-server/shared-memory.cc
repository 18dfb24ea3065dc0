#include "shared-memory.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "util/log.h"
#include "util/size.h"

namespace nahanni::ivshmem {
namespace {

uint64_t round_up_pow2(uint64_t v) {
  uint64_t p = 1;
  while (p < v) p <<= 1;
  return p;
}

// hugetlbfs rejects sizes that are not a multiple of its page size: grow until it accepts,
// up to 1 GiB pages.
Result<uint64_t> set_size(int fd, uint64_t size, const std::string& what) {
  uint64_t attempt = size;
  while (::ftruncate(fd, static_cast<off_t>(attempt)) < 0) {
    if (errno != EINVAL || attempt >= (uint64_t{1} << 30))
      return Error::format("ftruncate({}) failed: {}", what, std::strerror(errno));
    attempt <<= 1;
  }
  return attempt;
}

// A file system object (tmpfs, hugetlbfs) is sparse after ftruncate: if the file system fills
// up, the peer touching a missing page gets SIGBUS. Allocating every page now turns that into
// an error at start-up. fallocate (not posix_fallocate, whose fallback writes zeros) keeps the
// contents of an existing object.
Status reserve(int fd, uint64_t size, const std::string& what) {
  if (::fallocate(fd, 0, 0, static_cast<off_t>(size)) == 0) return {};
  if (errno == EOPNOTSUPP || errno == ENOSYS) return {};  // nothing to reserve on this file system
  return Error::format("cannot allocate {} of shared memory ({}): {}", format_size(size), what, std::strerror(errno));
}

Result<UniqueFd> open_in_dir(const std::string& dir) {
  // O_TMPFILE leaves no name behind even if we crash; fall back to create-and-unlink.
  UniqueFd fd(::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (fd) return fd;
  if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL)
    return Error::format("cannot open shm file {}: {}", dir, std::strerror(errno));
  std::string path = dir + "/ivshmem.XXXXXX";
  fd.reset(::mkostemp(path.data(), O_CLOEXEC));
  if (!fd) return Error::format("cannot open shm file {}: {}", path, std::strerror(errno));
  ::unlink(path.c_str());
  return fd;
}

}  // namespace

Result<SharedMemory> SharedMemory::create(const Spec& spec) {
  SharedMemory shm;
  uint64_t size = round_up_pow2(spec.size);
  if (size != spec.size)
    log::warnf("size {} is not a power of 2, using {}", format_size(spec.size), format_size(size));

  if (spec.dir) {
    NN_ASSIGN_OR_RETURN(shm.fd_, open_in_dir(*spec.dir));
    shm.description_ = "file in " + *spec.dir;
  } else if (spec.shm_name) {
    std::string name = *spec.shm_name;
    if (name.empty() || name.find('/', 1) != std::string::npos)
      return Error::format("invalid shm name '{}'", name);
    // Created by us: ours to remove. Already there: shared with its owner, left alone.
    shm.fd_.reset(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (shm.fd_) {
      if (!spec.keep) shm.unlink_name_ = name;
    } else if (errno == EEXIST) {
      shm.fd_.reset(::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0600));
    }
    if (!shm.fd_) return Error::format("cannot open shm file {}: {}", name, std::strerror(errno));
    shm.description_ = "shm " + name;
  } else {
    shm.fd_.reset(::memfd_create("ivshmem", MFD_CLOEXEC | MFD_ALLOW_SEALING));
    if (!shm.fd_) return Error::format("cannot create memfd: {}", std::strerror(errno));
    shm.description_ = "memfd";
  }
  NN_ASSIGN_OR_RETURN(shm.size_, set_size(shm.fd_.get(), size, shm.description_));
  if (shm.description_ == "memfd") {
    // Every peer gets a writable descriptor: without the seals one of them could ftruncate
    // the object and make every other peer's next access a SIGBUS.
    if (::fcntl(shm.fd_.get(), F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
      return Error::format("cannot seal memfd: {}", std::strerror(errno));
  } else {
    NN_TRY(reserve(shm.fd_.get(), shm.size_, shm.description_));
  }
  return shm;
}

SharedMemory::SharedMemory(SharedMemory&& other) noexcept
    : fd_(std::move(other.fd_)),
      size_(other.size_),
      description_(std::move(other.description_)),
      unlink_name_(std::exchange(other.unlink_name_, {})) {}

SharedMemory::~SharedMemory() {
  if (!unlink_name_.empty()) ::shm_unlink(unlink_name_.c_str());
}

}  // namespace nahanni::ivshmem
