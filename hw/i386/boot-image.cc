#include "hw/i386/boot-image.h"

#include <algorithm>
#include <cstring>

namespace nahanni {

namespace {
constexpr uint64_t kFourGiB = 1ull << 32;
}

BootBlob& BootImage::add(std::string name, uint64_t addr, std::vector<uint8_t> data, uint64_t size) {
  uint64_t total = std::max<uint64_t>(size, data.size());
  blobs.push_back(BootBlob{std::move(name), addr, std::move(data), total});
  return blobs.back();
}

const BootBlob* BootImage::find(std::string_view name) const {
  for (const BootBlob& b : blobs)
    if (b.name == name) return &b;
  return nullptr;
}

Status BootImage::check_fits(const RamLayout& ram) const {
  for (const BootBlob& b : blobs)
    if (!ram.contains(b.addr, b.size))
      return Error::format("{} at 0x{:x}+0x{:x} is outside guest RAM", b.name, b.addr, b.size);
  return {};
}

void BootImage::write_to(const RamLayout& ram, uint8_t* ram_host) const {
  for (const BootBlob& b : blobs) {
    if (!ram.contains(b.addr, b.size)) continue;  // check_fits() reported it at load time
    uint8_t* dst = ram_host + (b.addr >= kFourGiB ? ram.below_4g + (b.addr - kFourGiB) : b.addr);
    if (!b.data.empty()) std::memcpy(dst, b.data.data(), b.data.size());
    std::memset(dst + b.data.size(), 0, b.size - b.data.size());
  }
}

}  // namespace nahanni
