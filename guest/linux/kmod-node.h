// /dev/ivshmemN, the node the nahanni_ivshmem kernel module (guest/linux/kmod) gives each
// ivshmem function it drives. With the module bound, the kernel owns the BARs: sysfs
// resourceN cannot be mapped, so memory, ring and IVPosition go through this node.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "ivshmem-uapi.h"
#include "pci-function.h"
#include "util/error.h"
#include "util/fd.h"

namespace nahanni::guest {

inline constexpr const char* kKmodDriverName = "nahanni_ivshmem";

class KmodNode {
 public:
  // Opens the node of fn (found under its sysfs folder, misc/ivshmemN), which must be bound
  // to nahanni_ivshmem.
  static Result<KmodNode> open(const PciFunction& fn);

  const std::string& path() const { return path_; }
  int fd() const { return fd_.get(); }
  // IVSHMEM_IOC_INFO, read now (IVPosition and the revision-2 registers are live).
  Result<ivshmem_info> info() const;
  Status ring(uint16_t peer, uint16_t vector) const;
  // Waits for a ring up to timeout; the rung vectors (bit N = vector N), 0 on timeout.
  Result<uint64_t> wait(std::chrono::milliseconds timeout) const;

 private:
  KmodNode(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

}  // namespace nahanni::guest
