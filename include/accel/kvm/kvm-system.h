// /dev/kvm: the handle on the kernel module, what it can do, and the VM it creates. Opening it
// reports errors in QEMU's words. NAHANNI_KVM_DEVICE overrides the path (test-only: lets tests
// simulate a missing or unusable /dev/kvm; documented in docs/system/accel-kvm.rst).
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/fd.h"

namespace nahanni {

class KvmSystem {
 public:
  static constexpr int kApiVersion = 12;

  // Opens the device and checks the API version and every capability nahanni relies on. On a
  // missing or forbidden device it prints QEMU's "Could not access KVM kernel module: ..." line
  // itself and returns "failed to initialize kvm: ..." for the caller's location.
  static Result<std::unique_ptr<KvmSystem>> open();

  int fd() const { return fd_.get(); }
  // KVM_CHECK_EXTENSION's answer (0 when absent).
  int check_extension(long cap) const;
  size_t vcpu_mmap_size() const { return vcpu_mmap_size_; }
  // The most vCPUs a VM may have (KVM_CAP_MAX_VCPUS, else KVM_CAP_NR_VCPUS, else 4).
  unsigned max_vcpus() const { return max_vcpus_; }
  unsigned memory_slots() const { return memory_slots_; }
  // KVM_GET_SUPPORTED_CPUID, read once.
  const std::vector<kvm_cpuid_entry2>& supported_cpuid() const { return cpuid_; }
  // KVM_CREATE_VM (type 0).
  Result<UniqueFd> create_vm() const;

 private:
  UniqueFd fd_;
  size_t vcpu_mmap_size_ = 0;
  unsigned max_vcpus_ = 0;
  unsigned memory_slots_ = 0;
  std::vector<kvm_cpuid_entry2> cpuid_;
};

// The device path: NAHANNI_KVM_DEVICE when set (test-only), else /dev/kvm.
std::string kvm_device_path();

}  // namespace nahanni
