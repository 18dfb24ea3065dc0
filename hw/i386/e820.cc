#include "hw/i386/e820.h"

#include <algorithm>

namespace nahanni {

namespace {
constexpr uint64_t kFourGiB = 1ull << 32;
}

bool RamLayout::contains(uint64_t addr, uint64_t size) const {
  if (size == 0) size = 1;
  if (addr + size < addr) return false;
  if (addr + size <= below_4g) return true;
  return addr >= kFourGiB && addr + size <= kFourGiB + above_4g;
}

std::vector<E820Entry> pc_memory_map(const RamLayout& ram) {
  std::vector<E820Entry> map;
  map.push_back({0, std::min(ram.below_4g, kEbdaStart), kE820Ram});
  map.push_back({kEbdaStart, kHighMemoryStart - kEbdaStart, kE820Reserved});
  if (ram.below_4g > kHighMemoryStart) map.push_back({kHighMemoryStart, ram.below_4g - kHighMemoryStart, kE820Ram});
  if (ram.above_4g) map.push_back({kFourGiB, ram.above_4g, kE820Ram});
  return map;
}

}  // namespace nahanni
