// memory-backend-file: a file (on /dev/shm, hugetlbfs, a DAX device...) or a fresh unlinked file
// in a directory. A file this backend created is removed again if setting it up fails.
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include <cerrno>
#include <cstring>

#include "backends/hostmem.h"
#include "qom/property.h"
#include "qom/type.h"
#include "qom/user-creatable.h"

namespace nahanni {
namespace {

class MemoryBackendFile : public HostMemoryBackend {
 public:
  ~MemoryBackendFile() override {
    // discard-data: the contents need not survive us, so give the pages back.
    if (discard_data_ && host_) ::madvise(host_, size_, MADV_REMOVE);
  }
  std::string mem_path_;
  bool discard_data_ = false;
  uint64_t align_ = 0;
  bool pmem_ = false;
  bool readonly_ = false;

 protected:
  Status allocate() override {
    if (mem_path_.empty()) return Error("Parameter 'mem-path' is missing");
    struct stat st{};
    bool created = false;
    if (::stat(mem_path_.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      std::string templ = mem_path_ + "/nahanni_back_mem.XXXXXX";
      fd_.reset(::mkostemp(templ.data(), O_CLOEXEC));
      if (!fd_) return open_error();
      ::unlink(templ.c_str());
    } else {
      int flags = (readonly_ ? O_RDONLY : O_RDWR) | O_CLOEXEC;
      fd_.reset(::open(mem_path_.c_str(), flags));
      if (!fd_ && errno == ENOENT && !readonly_) {
        fd_.reset(::open(mem_path_.c_str(), flags | O_CREAT | O_EXCL, 0600));
        created = fd_.valid();
      }
      if (!fd_) return open_error();
    }
    Status st_map = size_and_map();
    if (!st_map && created) ::unlink(mem_path_.c_str());
    return st_map;
  }

 private:
  Error open_error() const {
    return Error::format("can't open backing store {} for guest RAM: {}", mem_path_, std::strerror(errno));
  }

  // tmpfs hands out pages as they are first touched: if it has no room for the whole size, the
  // guest's access past its free space would be a SIGBUS. Refuse now instead (a check, not a
  // reservation: prealloc=on reserves). Other file systems are left to the user, as in QEMU.
  Status check_room(const struct stat& st) const {
    struct statfs fs{};
    if (::fstatfs(fd_.get(), &fs) < 0 || fs.f_type != TMPFS_MAGIC || fs.f_blocks == 0) return {};
    uint64_t have = static_cast<uint64_t>(st.st_blocks) * 512;
    uint64_t free = static_cast<uint64_t>(fs.f_bavail) * static_cast<uint64_t>(fs.f_bsize);
    if (size_ > have && size_ - have > free)
      return Error::format("backing store {} cannot hold 'size' 0x{:x}: its file system has only 0x{:x} bytes free",
                           mem_path_, size_, free);
    return {};
  }

  Status size_and_map() {
    struct stat st{};
    if (::fstat(fd_.get(), &st) < 0) return open_error();
    bool is_file = S_ISREG(st.st_mode);
    uint64_t file_size = static_cast<uint64_t>(st.st_size);
    // An existing file shorter than 'size' is refused, never grown (QEMU's rule and message).
    if (is_file && file_size > 0 && file_size < size_)
      return Error::format("backing store size 0x{:x} does not match 'size' option 0x{:x}", file_size, size_);
    // prealloc=on reserves every page (HostMemoryBackend::map), which says more than a check.
    if (is_file && share_ && !readonly_ && !prealloc_) NN_TRY(check_room(st));
    if (is_file && file_size < size_) {
      if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) < 0)
        return Error::format("can't resize backing store {}: {}", mem_path_, std::strerror(errno));
    }
    int prot = readonly_ ? PROT_READ : PROT_READ | PROT_WRITE;
    return map(prot, share_ ? MAP_SHARED : MAP_PRIVATE);
  }
};

PropertyInfo mem_path_property() {
  PropertyInfo p = string_property<MemoryBackendFile>("mem-path", &MemoryBackendFile::mem_path_, "", "string");
  p.required = true;
  return p;
}

std::vector<PropertyInfo> file_properties() {
  using F = MemoryBackendFile;
  return {
      mem_path_property(),
      bool_property<F>("discard-data", &F::discard_data_, "", false),
      bool_property<F>("readonly", &F::readonly_, "", false),
      size_property<F>("align", &F::align_, "", 0),
      bool_property<F>("pmem", &F::pmem_, "", false),
  };
}

const TypeRegistration kFile{TypeInfo{.name = "memory-backend-file",
                                      .parent = std::string(kMemoryBackendType),
                                      .interfaces = {std::string(kUserCreatable)},
                                      .factory = make_factory<MemoryBackendFile>(),
                                      .properties = object_property_style(file_properties())}};

}  // namespace
}  // namespace nahanni
