// memory-backend-memfd: an anonymous file (memfd), shared by default, optionally on huge pages
// and sealed against resizing so peers can trust its size.
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include "backends/hostmem.h"
#include "qom/property.h"
#include "qom/type.h"
#include "qom/user-creatable.h"
#include "util/size.h"

namespace nahanni {
namespace {

class MemoryBackendMemfd : public HostMemoryBackend {
 public:
  MemoryBackendMemfd() { share_ = true; }
  bool hugetlb_ = false;
  uint64_t hugetlbsize_ = 0;
  bool seal_ = true;

 protected:
  Status allocate() override {
    unsigned flags = MFD_CLOEXEC | (seal_ ? MFD_ALLOW_SEALING : 0u);
    // QEMU checks the page size as the property is set, before it looks at hugetlb.
    if (hugetlbsize_ && !is_power_of_2(hugetlbsize_)) return Error("Hugepage size must be a power of 2");
    if (hugetlb_) {
      flags |= MFD_HUGETLB;
      if (hugetlbsize_) flags |= static_cast<unsigned>(__builtin_ctzll(hugetlbsize_)) << MFD_HUGE_SHIFT;
    } else if (hugetlbsize_) {
      return Error("'hugetlbsize' requires 'hugetlb'");
    }
    fd_.reset(::memfd_create(name().c_str(), flags));
    if (!fd_) return Error::format("failed to create memfd: {}", std::strerror(errno));
    if (::ftruncate(fd_.get(), static_cast<off_t>(size_)) < 0)
      return Error::format("failed to resize memfd to {}: {}", size_, std::strerror(errno));
    if (seal_ && ::fcntl(fd_.get(), F_ADD_SEALS, F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
      return Error::format("failed to add seals: {}", std::strerror(errno));
    return map(PROT_READ | PROT_WRITE, share_ ? MAP_SHARED : MAP_PRIVATE);
  }
};

std::vector<PropertyInfo> memfd_properties() {
  using M = MemoryBackendMemfd;
  return {
      bool_property<M>("hugetlb", &M::hugetlb_, "Use huge pages", false),
      size_property<M>("hugetlbsize", &M::hugetlbsize_, "Huge pages size (ex: 2M, 1G)", 0),
      bool_property<M>("seal", &M::seal_, "Seal growing & shrinking", true),
      host_memory_backend_share_property(true),
  };
}

const TypeRegistration kMemfd{TypeInfo{.name = "memory-backend-memfd",
                                       .parent = std::string(kMemoryBackendType),
                                       .interfaces = {std::string(kUserCreatable)},
                                       .factory = make_factory<MemoryBackendMemfd>(),
                                       .properties = object_property_style(memfd_properties())}};

}  // namespace
}  // namespace nahanni
