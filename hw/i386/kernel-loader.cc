#include "hw/i386/kernel-loader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "hw/i386/boot-cpu.h"
#include "hw/i386/bzimage-loader.h"
#include "hw/i386/mptable.h"
#include "hw/i386/pvh-loader.h"
#include "util/fd.h"

namespace nahanni {

namespace {

Result<std::vector<uint8_t>> read_file(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return Error(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) < 0) return Error(std::strerror(errno));
  if (S_ISDIR(st.st_mode)) return Error(std::strerror(EISDIR));
  std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(std::strerror(errno));
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  data.resize(done);
  return data;
}

// Tables and kernel must not overwrite each other (a kernel linked below 1 MiB would).
Status check_overlaps(const BootImage& image) {
  for (size_t i = 0; i < image.blobs.size(); ++i)
    for (size_t j = i + 1; j < image.blobs.size(); ++j) {
      const BootBlob &a = image.blobs[i], &b = image.blobs[j];
      if (a.addr < b.addr + b.size && b.addr < a.addr + a.size)
        return Error::format("{} at 0x{:x}+0x{:x} overlaps {} at 0x{:x}+0x{:x}", a.name, a.addr, a.size, b.name,
                             b.addr, b.size);
    }
  return {};
}

}  // namespace

Result<BootImage> load_kernel(const KernelInputs& in) {
  if (in.ram.below_4g < 2 * kHighMemoryStart) return Error("-kernel needs at least 2 MiB of guest RAM");
  BootImage image;
  if (is_elf(in.kernel)) {
    NN_ASSIGN_OR_RETURN(image, load_pvh_elf(in));
  } else if (is_bzimage(in.kernel)) {
    NN_ASSIGN_OR_RETURN(image, load_bzimage(in));
  } else {
    return Error("the kernel is neither an ELF with a PVH note nor a Linux bzImage");
  }
  image.add("mptable", boot::kMpTableAddr, build_mptable(static_cast<uint32_t>(boot::kMpTableAddr), in.cpus));
  NN_TRY(check_overlaps(image));
  NN_TRY(image.check_fits(in.ram));
  return image;
}

Result<BootImage> load_kernel_files(const KernelOptions& options, const RamLayout& ram) {
  auto kernel = read_file(options.kernel_path);
  if (!kernel)
    return Error::format("could not open kernel file '{}': {}", options.kernel_path, kernel.error().message());
  std::optional<std::vector<uint8_t>> initrd;
  if (!options.initrd_path.empty()) {
    auto data = read_file(options.initrd_path);
    if (!data)
      // QEMU's wording (its file reading reports through GLib).
      return Error::format("error reading initrd {}: Failed to open file \u201c{}\u201d: open() failed: {}",
                           options.initrd_path, options.initrd_path, data.error().message());
    initrd = std::move(*data);
  }
  KernelInputs in{.kernel = *kernel, .initrd = std::nullopt, .cmdline = options.cmdline, .ram = ram,
                  .cpus = options.cpus};
  if (initrd) in.initrd = std::span<const uint8_t>(*initrd);
  return load_kernel(in);
}

}  // namespace nahanni
