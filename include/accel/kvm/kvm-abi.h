// The KVM ioctls whose argument ends in a flexible array. The kernel headers declare those
// arrays with __DECLARE_FLEX_ARRAY, whose empty struct takes a byte in C++: sizeof, the entries'
// offset and so the ioctl numbers come out wrong in C++ (kvm_cpuid2 is 12 bytes instead of 8).
// These are the C layouts: an 8-byte header, then the entries.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstring>
#include <span>
#include <vector>

namespace nahanni {

struct KvmListHeader {
  __u32 count;  // nent, nmsrs, nr
  __u32 flags;  // padding, pad, flags
};
static_assert(sizeof(KvmListHeader) == 8);

inline constexpr unsigned long kKvmGetSupportedCpuid = _IOWR(KVMIO, 0x05, KvmListHeader);
inline constexpr unsigned long kKvmSetCpuid2 = _IOW(KVMIO, 0x90, KvmListHeader);
inline constexpr unsigned long kKvmSetMsrs = _IOW(KVMIO, 0x89, KvmListHeader);
inline constexpr unsigned long kKvmSetGsiRouting = _IOW(KVMIO, 0x6a, KvmListHeader);

// A header followed by `count` entries of T, laid out as the kernel expects.
template <typename T>
class KvmList {
 public:
  explicit KvmList(size_t count) : bytes_(sizeof(KvmListHeader) + count * sizeof(T)) {
    header().count = static_cast<__u32>(count);
  }
  explicit KvmList(std::span<const T> entries) : KvmList(entries.size()) {
    if (!entries.empty()) std::memcpy(bytes_.data() + sizeof(KvmListHeader), entries.data(), entries.size_bytes());
  }
  KvmListHeader& header() { return *reinterpret_cast<KvmListHeader*>(bytes_.data()); }
  size_t count() const { return reinterpret_cast<const KvmListHeader*>(bytes_.data())->count; }
  T entry(size_t i) const {
    T e;
    std::memcpy(&e, bytes_.data() + sizeof(KvmListHeader) + i * sizeof(T), sizeof(T));
    return e;
  }
  std::vector<T> entries() const {
    std::vector<T> out(count());
    if (!out.empty()) std::memcpy(out.data(), bytes_.data() + sizeof(KvmListHeader), out.size() * sizeof(T));
    return out;
  }
  void* data() { return bytes_.data(); }

 private:
  alignas(8) std::vector<unsigned char> bytes_;
};

}  // namespace nahanni
