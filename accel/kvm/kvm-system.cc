#include "accel/kvm/kvm-system.h"

#include "accel/kvm/kvm-abi.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace nahanni {
namespace {

struct RequiredCap {
  long cap;
  const char* name;
};

// What the accelerator uses unconditionally: in-kernel irqchip and PIT, GSI routing for MSI
// routes, eventfd fast paths, direct MSI injection, and the VM-level addresses x86 needs.
constexpr RequiredCap kRequiredCaps[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_IRQ_ROUTING, "KVM_CAP_IRQ_ROUTING"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_SIGNAL_MSI, "KVM_CAP_SIGNAL_MSI"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
};

Error init_failure(int err) { return Error::format("failed to initialize kvm: {}", std::strerror(err)); }

}  // namespace

std::string kvm_device_path() {
  const char* override_path = std::getenv("NAHANNI_KVM_DEVICE");
  return override_path && *override_path ? override_path : "/dev/kvm";
}

Result<std::unique_ptr<KvmSystem>> KvmSystem::open() {
  auto sys = std::make_unique<KvmSystem>();
  std::string path = kvm_device_path();
  sys->fd_ = UniqueFd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!sys->fd_) {
    int err = errno;
    // QEMU prints this line bare (no program name) before the error proper.
    std::fprintf(stderr, "Could not access KVM kernel module: %s\n", std::strerror(err));
    return init_failure(err);
  }
  int version = ::ioctl(sys->fd(), KVM_GET_API_VERSION, 0);
  if (version < 0) return init_failure(errno);
  if (version != kApiVersion) {
    std::fprintf(stderr, "kvm version not supported\n");
    return init_failure(EINVAL);
  }
  for (const RequiredCap& c : kRequiredCaps)
    if (sys->check_extension(c.cap) <= 0)
      return Error::format("failed to initialize kvm: kernel lacks {}", c.name);

  int mmap_size = ::ioctl(sys->fd(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (mmap_size <= 0) return init_failure(errno ? errno : EINVAL);
  sys->vcpu_mmap_size_ = static_cast<size_t>(mmap_size);
  int max = sys->check_extension(KVM_CAP_MAX_VCPUS);
  if (max <= 0) max = sys->check_extension(KVM_CAP_NR_VCPUS);
  sys->max_vcpus_ = max > 0 ? static_cast<unsigned>(max) : 4;
  int slots = sys->check_extension(KVM_CAP_NR_MEMSLOTS);
  sys->memory_slots_ = slots > 0 ? static_cast<unsigned>(slots) : 32;

  // The kernel says E2BIG until the buffer is large enough.
  for (unsigned n = 64; n <= 4096; n *= 2) {
    KvmList<kvm_cpuid_entry2> cpuid(n);
    if (::ioctl(sys->fd(), kKvmGetSupportedCpuid, cpuid.data()) == 0) {
      sys->cpuid_ = cpuid.entries();
      break;
    }
    if (errno != E2BIG) return init_failure(errno);
  }
  if (sys->cpuid_.empty()) return init_failure(E2BIG);
  return sys;
}

int KvmSystem::check_extension(long cap) const {
  int r = ::ioctl(fd(), KVM_CHECK_EXTENSION, cap);
  return r < 0 ? 0 : r;
}

Result<UniqueFd> KvmSystem::create_vm() const {
  int vm;
  do {
    vm = ::ioctl(fd(), KVM_CREATE_VM, 0);
  } while (vm < 0 && errno == EINTR);
  if (vm < 0) return init_failure(errno);
  ::fcntl(vm, F_SETFD, FD_CLOEXEC);
  return UniqueFd(vm);
}

}  // namespace nahanni
