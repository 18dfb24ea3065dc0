// Guest address spaces. A MemoryRegion is RAM (a host pointer, possibly backed by an fd), MMIO/PIO
// with read/write callbacks, or a container of subregions at offsets with priorities. An
// AddressSpace flattens its root region into ranges and dispatches any access to them; listeners
// (the KVM accelerator) are told when RAM ranges appear and disappear.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace nahanni {

struct MemoryRegionOps {
  std::function<uint64_t(uint64_t offset, unsigned size)> read;
  std::function<void(uint64_t offset, uint64_t value, unsigned size)> write;
  // Sizes the callbacks handle; other accesses are split (larger) or widened (smaller).
  unsigned min_access = 1;
  unsigned max_access = 8;
};

// An eventfd on an I/O region: a guest write of `size` bytes at `offset` whose value equals
// `datamatch` signals `fd`. An accelerator may take it into the kernel (KVM_IOEVENTFD) while
// the region is mapped; otherwise the write reaches the region's callback as any other.
struct MemoryRegionEventfd {
  uint64_t offset;
  unsigned size;
  uint64_t datamatch;
  int fd;
  auto operator<=>(const MemoryRegionEventfd&) const = default;
};

class MemoryRegion {
 public:
  enum class Kind { Ram, Io, Container };

  static std::unique_ptr<MemoryRegion> ram(std::string name, uint64_t size, uint8_t* host, int fd = -1,
                                           uint64_t fd_offset = 0);
  static std::unique_ptr<MemoryRegion> io(std::string name, uint64_t size, MemoryRegionOps ops);
  static std::unique_ptr<MemoryRegion> container(std::string name, uint64_t size);
  ~MemoryRegion();

  Kind kind() const { return kind_; }
  const std::string& name() const { return name_; }
  uint64_t size() const { return size_; }
  uint8_t* host() const { return host_; }
  int fd() const { return fd_; }
  uint64_t fd_offset() const { return fd_offset_; }
  const MemoryRegionOps& ops() const { return ops_; }

  // Containers: `sub` is not owned and must outlive its mapping.
  void add_subregion(uint64_t offset, MemoryRegion* sub, int priority = 0);
  void del_subregion(MemoryRegion* sub);
  bool mapped() const { return container_ != nullptr; }
  uint64_t offset_in_container() const { return offset_; }

  // I/O regions: doorbell-style eventfds announced to address-space listeners while mapped.
  // Adding one already there, or deleting one that is not, does nothing. Each costs a lookup
  // and the announcement of that one eventfd, not a rebuild: a doorbell device may hold
  // thousands (peers x vectors).
  void add_eventfd(const MemoryRegionEventfd& e);
  void del_eventfd(const MemoryRegionEventfd& e);
  const std::set<MemoryRegionEventfd>& eventfds() const { return eventfds_; }

 private:
  struct Subregion {
    uint64_t offset;
    MemoryRegion* region;
    int priority;
    uint64_t order;  // insertion order breaks priority ties: the later one wins
  };
  MemoryRegion(Kind kind, std::string name, uint64_t size) : kind_(kind), name_(std::move(name)), size_(size) {}
  void changed();

  friend class AddressSpace;
  friend struct MemoryRegionAccess;
  Kind kind_;
  std::string name_;
  uint64_t size_;
  uint8_t* host_ = nullptr;
  int fd_ = -1;
  uint64_t fd_offset_ = 0;
  MemoryRegionOps ops_;
  std::vector<Subregion> subregions_;
  MemoryRegion* container_ = nullptr;
  uint64_t offset_ = 0;
  std::vector<class AddressSpace*> spaces_;  // address spaces whose root this is
  uint64_t next_order_ = 0;
  std::set<MemoryRegionEventfd> eventfds_;
};

// One flat piece of an address space: [start, start+size) maps to `region` at `region_offset`.
struct FlatRange {
  uint64_t start;
  uint64_t size;
  MemoryRegion* region;
  uint64_t region_offset;
};

// A region's eventfd where the address space maps it.
struct AddressEventfd {
  uint64_t address;
  unsigned size;
  uint64_t datamatch;
  int fd;
  auto operator<=>(const AddressEventfd&) const = default;
};

class MemoryListener {
 public:
  virtual ~MemoryListener() = default;
  // Called for RAM ranges only; after every change the full new set is announced as differences.
  virtual void ram_added(const FlatRange& range) = 0;
  virtual void ram_removed(const FlatRange& range) = 0;
  // Eventfds of mapped I/O regions, announced as differences like RAM (a moved BAR is a removal
  // then an addition). Returns true when the listener now signals the fd itself on such writes.
  virtual bool eventfd_added(const AddressEventfd&) { return false; }
  virtual void eventfd_removed(const AddressEventfd&) {}
};

class AddressSpace {
 public:
  // Unassigned reads return `unassigned` bytes (0 for memory, 0xff for I/O ports, as QEMU does).
  AddressSpace(std::string name, MemoryRegion* root, uint8_t unassigned = 0);
  ~AddressSpace();

  const std::string& name() const { return name_; }
  // Any length and alignment; little-endian values for the sized forms (sizes 1, 2, 4, 8).
  void read(uint64_t addr, std::span<uint8_t> out);
  void write(uint64_t addr, std::span<const uint8_t> data);
  uint64_t read_value(uint64_t addr, unsigned size);
  void write_value(uint64_t addr, uint64_t value, unsigned size);

  const std::vector<FlatRange>& flat_view() const { return flat_; }
  // True when a listener took this eventfd (the kernel signals it; writes never reach us).
  bool eventfd_taken(int fd) const;
  // True when this eventfd sits where its region is mapped (taken or not).
  bool eventfd_mapped(int fd) const;
  const FlatRange* lookup(uint64_t addr) const;
  void add_listener(MemoryListener* l);
  void remove_listener(MemoryListener* l);
  // Recomputes the flat view (called by regions when their layout changes).
  void rebuild();

 private:
  friend class MemoryRegion;
  // One eventfd of `region` added or deleted: announced where the region is mapped, without a
  // rebuild (called by the region).
  void region_eventfd_added(const MemoryRegion* region, const MemoryRegionEventfd& e);
  void region_eventfd_removed(const MemoryRegion* region, const MemoryRegionEventfd& e);
  void dispatch_read(const FlatRange* range, uint64_t addr, uint8_t* out, size_t len);
  void dispatch_write(const FlatRange* range, uint64_t addr, const uint8_t* data, size_t len);

  // Where `e` of the region sits in `range`, if wholly inside it.
  static std::optional<AddressEventfd> place(const FlatRange& range, const MemoryRegionEventfd& e);
  void map_eventfd(const AddressEventfd& e);
  void unmap_eventfd(std::map<AddressEventfd, bool>::iterator it);
  void count_fd(int fd, int mapped, int taken);

  std::string name_;
  MemoryRegion* root_;
  uint8_t unassigned_;
  void update_eventfds();

  std::vector<FlatRange> flat_;
  std::vector<MemoryListener*> listeners_;
  std::map<AddressEventfd, bool> eventfds_;  // mapped eventfd -> taken by a listener
  struct FdUse {
    int mapped = 0, taken = 0;
  };
  std::unordered_map<int, FdUse> fd_use_;  // for eventfd_taken/eventfd_mapped by fd
};

}  // namespace nahanni
