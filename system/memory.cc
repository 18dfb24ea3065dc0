#include "system/memory.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <set>

namespace nahanni {
namespace {

// All address spaces rebuild when any region's layout changes; there are only a handful.
std::vector<AddressSpace*>& all_spaces() {
  static auto* spaces = new std::vector<AddressSpace*>;  // never destroyed: outlives every region
  return *spaces;
}

struct Piece {
  uint64_t start, end;  // [start, end)
  MemoryRegion* region;
  uint64_t region_offset;
};

// Fills the gaps in `out` (sorted, non-overlapping) within [lo, hi) with `region`.
void fill_gaps(std::vector<Piece>& out, uint64_t lo, uint64_t hi, MemoryRegion* region, uint64_t base) {
  std::vector<Piece> added;
  uint64_t cursor = lo;
  for (const Piece& p : out) {
    if (p.end <= cursor) continue;
    if (p.start >= hi) break;
    if (p.start > cursor) added.push_back({cursor, p.start, region, cursor - base});
    cursor = std::max(cursor, p.end);
    if (cursor >= hi) break;
  }
  if (cursor < hi) added.push_back({cursor, hi, region, cursor - base});
  out.insert(out.end(), added.begin(), added.end());
  std::sort(out.begin(), out.end(), [](const Piece& a, const Piece& b) { return a.start < b.start; });
}

// Renders `mr` placed at `base`, clipped to [lo, hi); higher priority first so it wins overlaps.
void render(std::vector<Piece>& out, MemoryRegion* mr, uint64_t base, uint64_t lo, uint64_t hi);

}  // namespace

struct MemoryRegionAccess {
  static void render_region(std::vector<Piece>& out, MemoryRegion* mr, uint64_t base, uint64_t lo, uint64_t hi) {
    uint64_t end = mr->size_ == 0 ? base : base + mr->size_;
    if (end < base) end = UINT64_MAX;  // clamp a region reaching the top of the space
    lo = std::max(lo, base);
    hi = std::min(hi, end);
    if (lo >= hi) return;
    if (mr->kind_ != MemoryRegion::Kind::Container) {
      fill_gaps(out, lo, hi, mr, base);
      return;
    }
    std::vector<MemoryRegion::Subregion> subs = mr->subregions_;
    std::sort(subs.begin(), subs.end(), [](const auto& a, const auto& b) {
      return a.priority != b.priority ? a.priority > b.priority : a.order > b.order;
    });
    for (const auto& s : subs) render_region(out, s.region, base + s.offset, lo, hi);
  }
};

namespace {
void render(std::vector<Piece>& out, MemoryRegion* mr, uint64_t base, uint64_t lo, uint64_t hi) {
  MemoryRegionAccess::render_region(out, mr, base, lo, hi);
}
}  // namespace

std::unique_ptr<MemoryRegion> MemoryRegion::ram(std::string name, uint64_t size, uint8_t* host, int fd,
                                                uint64_t fd_offset) {
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(Kind::Ram, std::move(name), size));
  mr->host_ = host;
  mr->fd_ = fd;
  mr->fd_offset_ = fd_offset;
  return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::io(std::string name, uint64_t size, MemoryRegionOps ops) {
  std::unique_ptr<MemoryRegion> mr(new MemoryRegion(Kind::Io, std::move(name), size));
  mr->ops_ = std::move(ops);
  return mr;
}

std::unique_ptr<MemoryRegion> MemoryRegion::container(std::string name, uint64_t size) {
  return std::unique_ptr<MemoryRegion>(new MemoryRegion(Kind::Container, std::move(name), size));
}

MemoryRegion::~MemoryRegion() {
  if (container_) container_->del_subregion(this);
  for (auto& s : subregions_) s.region->container_ = nullptr;
}

void MemoryRegion::add_subregion(uint64_t offset, MemoryRegion* sub, int priority) {
  if (sub->container_) sub->container_->del_subregion(sub);
  sub->container_ = this;
  sub->offset_ = offset;
  subregions_.push_back({offset, sub, priority, next_order_++});
  changed();
}

void MemoryRegion::del_subregion(MemoryRegion* sub) {
  auto it = std::find_if(subregions_.begin(), subregions_.end(), [&](const Subregion& s) { return s.region == sub; });
  if (it == subregions_.end()) return;
  subregions_.erase(it);
  sub->container_ = nullptr;
  changed();
}

void MemoryRegion::add_eventfd(const MemoryRegionEventfd& e) {
  if (!eventfds_.insert(e).second) return;
  for (AddressSpace* as : all_spaces()) as->region_eventfd_added(this, e);
}

void MemoryRegion::del_eventfd(const MemoryRegionEventfd& e) {
  if (eventfds_.erase(e) == 0) return;
  for (AddressSpace* as : all_spaces()) as->region_eventfd_removed(this, e);
}

void MemoryRegion::changed() {
  for (AddressSpace* as : all_spaces()) as->rebuild();
}

AddressSpace::AddressSpace(std::string name, MemoryRegion* root, uint8_t unassigned)
    : name_(std::move(name)), root_(root), unassigned_(unassigned) {
  all_spaces().push_back(this);
  rebuild();
}

AddressSpace::~AddressSpace() {
  auto& spaces = all_spaces();
  spaces.erase(std::remove(spaces.begin(), spaces.end(), this), spaces.end());
}

void AddressSpace::rebuild() {
  std::vector<Piece> pieces;
  render(pieces, root_, 0, 0, UINT64_MAX);
  std::vector<FlatRange> next;
  next.reserve(pieces.size());
  for (const Piece& p : pieces) next.push_back({p.start, p.end - p.start, p.region, p.region_offset});

  auto same = [](const FlatRange& a, const FlatRange& b) {
    return a.start == b.start && a.size == b.size && a.region == b.region && a.region_offset == b.region_offset;
  };
  auto is_ram = [](const FlatRange& r) { return r.region->kind() == MemoryRegion::Kind::Ram; };
  for (const FlatRange& old : flat_)
    if (is_ram(old) && std::none_of(next.begin(), next.end(), [&](const FlatRange& n) { return same(n, old); }))
      for (MemoryListener* l : listeners_) l->ram_removed(old);
  std::vector<FlatRange> previous = std::move(flat_);
  flat_ = std::move(next);
  for (const FlatRange& n : flat_)
    if (is_ram(n) && std::none_of(previous.begin(), previous.end(), [&](const FlatRange& o) { return same(n, o); }))
      for (MemoryListener* l : listeners_) l->ram_added(n);
  update_eventfds();
}

std::optional<AddressEventfd> AddressSpace::place(const FlatRange& r, const MemoryRegionEventfd& e) {
  // Only an eventfd wholly inside this visible piece of the region.
  if (e.offset < r.region_offset || e.offset + e.size > r.region_offset + r.size) return std::nullopt;
  return AddressEventfd{r.start + (e.offset - r.region_offset), e.size, e.datamatch, e.fd};
}

void AddressSpace::count_fd(int fd, int mapped, int taken) {
  FdUse& use = fd_use_[fd];
  use.mapped += mapped;
  use.taken += taken;
  if (use.mapped == 0 && use.taken == 0) fd_use_.erase(fd);
}

void AddressSpace::map_eventfd(const AddressEventfd& e) {
  if (eventfds_.count(e)) return;
  bool taken = false;
  for (MemoryListener* l : listeners_) taken = l->eventfd_added(e) || taken;
  eventfds_.emplace(e, taken);
  count_fd(e.fd, 1, taken ? 1 : 0);
}

void AddressSpace::unmap_eventfd(std::map<AddressEventfd, bool>::iterator it) {
  for (MemoryListener* l : listeners_) l->eventfd_removed(it->first);
  count_fd(it->first.fd, -1, it->second ? -1 : 0);
  eventfds_.erase(it);
}

// Recomputes where the mapped I/O regions' eventfds sit and announces the differences: after a
// layout change, so O(n log n) in the eventfds of the mapped regions.
void AddressSpace::update_eventfds() {
  std::set<AddressEventfd> next;
  for (const FlatRange& r : flat_) {
    if (r.region->kind() != MemoryRegion::Kind::Io) continue;
    for (const MemoryRegionEventfd& e : r.region->eventfds())
      if (auto placed = place(r, e)) next.insert(*placed);
  }
  for (auto it = eventfds_.begin(); it != eventfds_.end();) {
    auto current = it++;
    if (!next.count(current->first)) unmap_eventfd(current);
  }
  for (const AddressEventfd& e : next) map_eventfd(e);
}

// One eventfd changes: only the pieces of its region are looked at (a handful), never the
// other eventfds.
void AddressSpace::region_eventfd_added(const MemoryRegion* region, const MemoryRegionEventfd& e) {
  if (region->kind() != MemoryRegion::Kind::Io) return;
  for (const FlatRange& r : flat_)
    if (r.region == region)
      if (auto placed = place(r, e)) map_eventfd(*placed);
}

void AddressSpace::region_eventfd_removed(const MemoryRegion* region, const MemoryRegionEventfd& e) {
  if (region->kind() != MemoryRegion::Kind::Io) return;
  for (const FlatRange& r : flat_) {
    if (r.region != region) continue;
    auto placed = place(r, e);
    if (!placed) continue;
    if (auto it = eventfds_.find(*placed); it != eventfds_.end()) unmap_eventfd(it);
  }
}

bool AddressSpace::eventfd_taken(int fd) const {
  auto it = fd_use_.find(fd);
  return it != fd_use_.end() && it->second.taken > 0;
}

bool AddressSpace::eventfd_mapped(int fd) const {
  auto it = fd_use_.find(fd);
  return it != fd_use_.end() && it->second.mapped > 0;
}

const FlatRange* AddressSpace::lookup(uint64_t addr) const {
  auto it = std::upper_bound(flat_.begin(), flat_.end(), addr,
                             [](uint64_t a, const FlatRange& r) { return a < r.start; });
  if (it == flat_.begin()) return nullptr;
  --it;
  return addr - it->start < it->size ? &*it : nullptr;
}

void AddressSpace::add_listener(MemoryListener* l) {
  listeners_.push_back(l);
  for (const FlatRange& r : flat_)
    if (r.region->kind() == MemoryRegion::Kind::Ram) l->ram_added(r);
  for (auto& [e, taken] : eventfds_) {
    if (!l->eventfd_added(e) || taken) continue;
    taken = true;
    count_fd(e.fd, 0, 1);
  }
}

void AddressSpace::remove_listener(MemoryListener* l) {
  listeners_.erase(std::remove(listeners_.begin(), listeners_.end(), l), listeners_.end());
  // Whatever that listener took goes back to the userspace path.
  for (auto& [e, taken] : eventfds_) {
    if (!taken) continue;
    l->eventfd_removed(e);
    bool still = false;
    for (MemoryListener* other : listeners_) still = other->eventfd_added(e) || still;
    if (!still) {
      taken = false;
      count_fd(e.fd, 0, -1);
    }
  }
}

void AddressSpace::dispatch_read(const FlatRange* range, uint64_t addr, uint8_t* out, size_t len) {
  uint64_t off = addr - range->start + range->region_offset;
  MemoryRegion* mr = range->region;
  if (mr->kind() == MemoryRegion::Kind::Ram) {
    std::memcpy(out, mr->host() + off, len);
    return;
  }
  const MemoryRegionOps& ops = mr->ops();
  // Split into naturally sized accesses the callbacks accept, widening short ones.
  size_t done = 0;
  while (done < len) {
    unsigned size = static_cast<unsigned>(std::min<size_t>(len - done, ops.max_access));
    while (size & (size - 1)) size &= size - 1;  // round down to a power of two
    unsigned access = std::max(size, ops.min_access);
    // A widened read covers the naturally aligned word holding the bytes asked for, so a byte
    // read at offset 2 of a dword register returns that register's byte 2, not byte 0.
    uint64_t at = off + done, shift = 0;
    if (access > size && (at & (access - 1)) + size <= access) {
      shift = at & (access - 1);
      at -= shift;
    }
    uint64_t v = ops.read ? ops.read(at, access) >> (8 * shift) : 0;
    for (unsigned i = 0; i < size; ++i) out[done + i] = static_cast<uint8_t>(v >> (8 * i));
    done += size;
  }
}

void AddressSpace::dispatch_write(const FlatRange* range, uint64_t addr, const uint8_t* data, size_t len) {
  uint64_t off = addr - range->start + range->region_offset;
  MemoryRegion* mr = range->region;
  if (mr->kind() == MemoryRegion::Kind::Ram) {
    std::memcpy(mr->host() + off, data, len);
    return;
  }
  const MemoryRegionOps& ops = mr->ops();
  size_t done = 0;
  while (done < len) {
    unsigned size = static_cast<unsigned>(std::min<size_t>(len - done, ops.max_access));
    while (size & (size - 1)) size &= size - 1;
    unsigned access = std::max(size, ops.min_access);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; ++i) v |= static_cast<uint64_t>(data[done + i]) << (8 * i);
    if (ops.write) ops.write(off + done, v, access);
    done += size;
  }
}

void AddressSpace::read(uint64_t addr, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    uint64_t a = addr + done;
    const FlatRange* r = lookup(a);
    size_t chunk = out.size() - done;
    if (!r) {
      // Up to the next mapped range, or the end of the request.
      auto next = std::upper_bound(flat_.begin(), flat_.end(), a,
                                   [](uint64_t x, const FlatRange& fr) { return x < fr.start; });
      if (next != flat_.end()) chunk = std::min<uint64_t>(chunk, next->start - a);
      std::memset(out.data() + done, unassigned_, chunk);
    } else {
      chunk = std::min<uint64_t>(chunk, r->start + r->size - a);
      dispatch_read(r, a, out.data() + done, chunk);
    }
    done += chunk;
  }
}

void AddressSpace::write(uint64_t addr, std::span<const uint8_t> data) {
  size_t done = 0;
  while (done < data.size()) {
    uint64_t a = addr + done;
    const FlatRange* r = lookup(a);
    size_t chunk = data.size() - done;
    if (!r) {
      auto next = std::upper_bound(flat_.begin(), flat_.end(), a,
                                   [](uint64_t x, const FlatRange& fr) { return x < fr.start; });
      if (next != flat_.end()) chunk = std::min<uint64_t>(chunk, next->start - a);
    } else {
      chunk = std::min<uint64_t>(chunk, r->start + r->size - a);
      dispatch_write(r, a, data.data() + done, chunk);
    }
    done += chunk;
  }
}

uint64_t AddressSpace::read_value(uint64_t addr, unsigned size) {
  uint8_t buf[8] = {};
  read(addr, std::span(buf, size));
  uint64_t v = 0;
  for (unsigned i = 0; i < size; ++i) v |= static_cast<uint64_t>(buf[i]) << (8 * i);
  return v;
}

void AddressSpace::write_value(uint64_t addr, uint64_t value, unsigned size) {
  uint8_t buf[8];
  for (unsigned i = 0; i < size; ++i) buf[i] = static_cast<uint8_t>(value >> (8 * i));
  write(addr, std::span<const uint8_t>(buf, size));
}

}  // namespace nahanni
