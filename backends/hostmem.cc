#include "backends/hostmem.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "qom/property.h"
#include "qom/type.h"
#include "qom/user-creatable.h"

namespace nahanni {

HostMemoryBackend::~HostMemoryBackend() {
  if (host_) ::munmap(host_, size_);
}

Status HostMemoryBackend::complete() {
  if (size_ == 0) return Error::format("property 'size' of {} doesn't take value '0'", type_name());
  // mmap cannot describe more than the address space; refuse before trying, as mmap would.
  if (size_ > (uint64_t{1} << 47)) return map_error(ENOMEM);
  return allocate();
}

Status HostMemoryBackend::map(int prot, int flags) {
  if (prealloc_ && fd_ && (flags & MAP_SHARED) && (prot & PROT_WRITE)) {
    // MAP_POPULATE ignores pages it cannot allocate (a full tmpfs), which then fault with SIGBUS
    // when touched; fallocate reports the shortage now. It keeps existing contents.
    if (::fallocate(fd_.get(), 0, 0, static_cast<off_t>(size_)) < 0 && errno != EOPNOTSUPP && errno != ENOSYS)
      return Error::format("can't preallocate {} bytes of backing store for '{}': {}", size_, name(),
                           std::strerror(errno));
  }
  if (prealloc_) flags |= MAP_POPULATE;
  if (!reserve_ || !prealloc_) flags |= fd_ ? 0 : MAP_NORESERVE;
  void* p = ::mmap(nullptr, size_, prot, flags, fd_.get(), 0);
  if (p == MAP_FAILED) return map_error(errno);
  host_ = static_cast<uint8_t*>(p);
  if (!dump_) ::madvise(host_, size_, MADV_DONTDUMP);
  if (merge_) ::madvise(host_, size_, MADV_MERGEABLE);
  return {};
}

Error HostMemoryBackend::map_error(int err) const {
  // QEMU's messages: anonymous RAM names the backend, fd-backed memory names the store.
  if (fd_) return Error::format("unable to map backing store for guest RAM: {}", std::strerror(err));
  return Error::format("cannot set up guest memory '{}': {}", name(), std::strerror(err));
}

PropertyInfo host_memory_backend_share_property(bool default_value) {
  return bool_property<HostMemoryBackend>("share", &HostMemoryBackend::share_,
                                          "Mark the memory as private to QEMU or shared", default_value);
}

std::vector<PropertyInfo> object_property_style(std::vector<PropertyInfo> props) {
  for (PropertyInfo& p : props) {
    p.default_value.reset();
    if (p.type == "size") p.type = "int";
  }
  return props;
}

std::vector<PropertyInfo> host_memory_backend_properties() {
  using B = HostMemoryBackend;
  PropertyInfo size = size_property<B>("size", &B::size_, "Size of the memory region (ex: 500M)");
  size.required = true;
  return {
      size,
      host_memory_backend_share_property(false),
      bool_property<B>("prealloc", &B::prealloc_, "Preallocate memory", false),
      bool_property<B>("dump", &B::dump_, "Set to 'off' to exclude from core dump", true),
      bool_property<B>("merge", &B::merge_, "Mark memory as mergeable", true),
      bool_property<B>("reserve", &B::reserve_, "Reserve swap space (or huge pages) if applicable", true),
  };
}

namespace {
const TypeRegistration kBackendType{TypeInfo{.name = std::string(kMemoryBackendType),
                                             .parent = "object",
                                             .abstract = true,
                                             .interfaces = {std::string(kUserCreatable)},
                                             .properties = object_property_style(host_memory_backend_properties())}};
}  // namespace

}  // namespace nahanni
