// memory-backend-ram: anonymous memory. With share=on it is a memfd, so it can be shared.
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "backends/hostmem.h"
#include "qom/type.h"
#include "qom/user-creatable.h"

namespace nahanni {
namespace {

class MemoryBackendRam : public HostMemoryBackend {
 protected:
  Status allocate() override {
    if (!share_) return map(PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    fd_.reset(::memfd_create(name().c_str(), MFD_CLOEXEC));
    if (!fd_) return Error::format("cannot create shared memory for '{}': {}", name(), std::strerror(errno));
    if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) < 0)
      return Error::format("cannot size shared memory for '{}': {}", name(), std::strerror(errno));
    return map(PROT_READ | PROT_WRITE, MAP_SHARED);
  }
};

const TypeRegistration kRam{TypeInfo{.name = "memory-backend-ram",
                                     .parent = std::string(kMemoryBackendType),
                                     .interfaces = {std::string(kUserCreatable)},
                                     .factory = make_factory<MemoryBackendRam>()}};

}  // namespace
}  // namespace nahanni
