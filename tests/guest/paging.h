// Identity mappings beyond the 4 GiB the boot code maps: a 64-bit BAR (the shared memory) may
// be placed above 4 GiB. 2 MiB pages, tables taken from a small static pool.
#pragma once

#include <cstdint>

namespace nahanni::guest {

// Identity-maps [addr, addr + size) (rounded out to 2 MiB), uncached if `uncached`.
// Returns false when the page-table pool runs out or the range exceeds 48-bit addresses.
bool identity_map(uint64_t addr, uint64_t size, bool uncached);

}  // namespace nahanni::guest
