// -kernel/-initrd/-append on the pc machine: reads the files and picks the loader by format (an
// ELF with a PVH note, or a Linux bzImage), then adds the MP table. Runs at machine init, where
// its errors end start-up with QEMU's messages; the resulting BootImage is written to RAM on
// every reset.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "hw/i386/boot-image.h"
#include "hw/i386/e820.h"

namespace nahanni {

// What the loaders take: the images already in memory.
struct KernelInputs {
  std::span<const uint8_t> kernel;
  std::optional<std::span<const uint8_t>> initrd;
  std::string cmdline;
  RamLayout ram;
  unsigned cpus = 1;
};

struct KernelOptions {
  std::string kernel_path, initrd_path, cmdline;
  unsigned cpus = 1;
};

// Reads the files (errors: "could not open kernel file 'P': ...", "error reading initrd P: ...
// // disk 'P': ..."; for the initrd QEMU's GLib wording) and loads them.
Result<BootImage> load_kernel_files(const KernelOptions& options, const RamLayout& ram);
// Chooses the format: "\x7fELF" with a PVH note -> PVH, "HdrS" at 0x202 -> bzImage.
Result<BootImage> load_kernel(const KernelInputs& in);

}  // namespace nahanni
