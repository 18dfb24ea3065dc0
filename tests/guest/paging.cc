#include "paging.h"

extern "C" uint64_t boot_pml4[512];

namespace nahanni::guest {
namespace {

constexpr uint64_t kPresent = 0x1, kWrite = 0x2, kPwt = 0x8, kPcd = 0x10, kHuge = 0x80;
constexpr uint64_t kAddressMask = 0x000ffffffffff000ull;
constexpr uint64_t kLargePage = 2ull << 20;
constexpr int kPoolPages = 16;

alignas(4096) uint64_t pool[kPoolPages][512];
int pool_used = 0;

uint64_t* next_level(uint64_t* table, unsigned index) {
  if (!(table[index] & kPresent)) {
    if (pool_used == kPoolPages) return nullptr;
    uint64_t* fresh = pool[pool_used++];
    for (int i = 0; i < 512; ++i) fresh[i] = 0;
    table[index] = reinterpret_cast<uint64_t>(fresh) | kPresent | kWrite;
  }
  return reinterpret_cast<uint64_t*>(table[index] & kAddressMask);
}

}  // namespace

bool identity_map(uint64_t addr, uint64_t size, bool uncached) {
  uint64_t start = addr & ~(kLargePage - 1);
  uint64_t end = (addr + size + kLargePage - 1) & ~(kLargePage - 1);
  if (end > (1ull << 47) || end < start) return false;
  for (uint64_t a = start; a < end; a += kLargePage) {
    uint64_t* pdpt = next_level(boot_pml4, (a >> 39) & 511);
    if (!pdpt) return false;
    uint64_t* pd = next_level(pdpt, (a >> 30) & 511);
    if (!pd) return false;
    pd[(a >> 21) & 511] = a | kPresent | kWrite | kHuge | (uncached ? kPcd | kPwt : 0);
  }
  // Reloading CR3 drops any stale translation of the range.
  uint64_t cr3;
  asm volatile("mov %%cr3, %0" : "=r"(cr3));
  asm volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
  return true;
}

}  // namespace nahanni::guest
