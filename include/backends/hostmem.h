// Memory backends: -object memory-backend-{ram,file,memfd}. A backend owns a host mapping (and
// its fd where there is one), knows whether it is shared with other processes, and serves one
// device at a time (a device marks it in use while it maps it).
#pragma once

#include <cstdint>
#include <string>

#include "qom/object.h"
#include "util/fd.h"

namespace nahanni {

class HostMemoryBackend : public Object {
 public:
  ~HostMemoryBackend() override;

  uint64_t size() const { return size_; }
  bool shared() const { return share_; }
  uint8_t* host() const { return host_; }
  // -1 for private anonymous memory.
  int fd() const { return fd_.get(); }

  bool in_use() const { return in_use_; }
  void set_in_use(bool u) { in_use_ = u; }
  bool can_be_deleted() const override { return !in_use_; }

  Status complete() override;

 protected:
  // Produces the fd (or none) to map; called by complete() after the size is checked.
  virtual Status allocate() = 0;
  Status map(int prot, int flags);
  // A failed mapping (or an impossible size), in QEMU's words.
  Error map_error(int err) const;

  uint64_t size_ = 0;
  bool share_ = false;
  bool prealloc_ = false;
  bool dump_ = true;
  bool merge_ = true;
  bool reserve_ = true;
  UniqueFd fd_;
  uint8_t* host_ = nullptr;
  bool in_use_ = false;

  friend std::vector<PropertyInfo> host_memory_backend_properties();
  friend PropertyInfo host_memory_backend_share_property(bool default_value);
};

inline constexpr std::string_view kMemoryBackendType = "memory-backend";

// "share" with a type-specific default (memfd shares by default).
PropertyInfo host_memory_backend_share_property(bool default_value);
// QEMU shows object (not device) properties without defaults and sizes as "int", in -object
// help and qom-list-properties; backend property tables go through this.
std::vector<PropertyInfo> object_property_style(std::vector<PropertyInfo> props);

}  // namespace nahanni
