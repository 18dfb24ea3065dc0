#include "ivshmem-device.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/fd.h"

namespace nahanni::guest {

namespace {

inline constexpr unsigned kConfigCommand = 0x04;
inline constexpr uint16_t kCommandMemory = 1u << 1;

Status write_text(const std::string& path, const std::string& text) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::format("cannot open {}: {}", path, std::strerror(errno));
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()))
    return Error::format("cannot write '{}' to {}: {}", text, path, std::strerror(errno));
  return {};
}

}  // namespace

Result<IvshmemDevice> IvshmemDevice::open(const PciFunction& fn) {
  auto id = identify_ivshmem(fn);
  if (!id) return Error::format("{} is not an ivshmem device ({:04x}:{:04x})", fn.bdf, fn.vendor, fn.device);
  if (!fn.resource(0)) return Error::format("{}: BAR0 (registers) is not assigned", fn.bdf);
  if (!fn.resource(2)) return Error::format("{}: BAR2 (shared memory) is not assigned", fn.bdf);
  if (fn.driver == kKmodDriverName) {
    NN_ASSIGN_OR_RETURN(KmodNode node, KmodNode::open(fn));
    NN_ASSIGN_OR_RETURN(MappedRegion mem, MappedRegion::map_fd(node.fd(), fn.resource(2)->size(), node.path()));
    return IvshmemDevice(fn, *id, MappedRegion(), std::move(mem), std::move(node));
  }
  NN_ASSIGN_OR_RETURN(std::vector<uint8_t> config, read_config(fn));
  uint16_t command = static_cast<uint16_t>(config[kConfigCommand] | (config[kConfigCommand + 1] << 8));
  if (!(command & kCommandMemory)) {
    // Without a driver nobody enabled the device; the BAR mappings would read all-ones.
    command |= kCommandMemory;
    NN_TRY(write_config(fn, kConfigCommand, &command, sizeof(command)));
  }
  NN_ASSIGN_OR_RETURN(MappedRegion regs, MappedRegion::map_file(fn.resource_path(0), 0));
  NN_ASSIGN_OR_RETURN(MappedRegion mem, MappedRegion::map_file(fn.resource_path(2), fn.resource(2)->size()));
  return IvshmemDevice(fn, *id, std::move(regs), std::move(mem));
}

uint32_t IvshmemDevice::iv_position() {
  if (!kmod_) return registers_.iv_position();
  auto info = kmod_->info();
  return info ? info->ivposition : 0;
}

uint32_t IvshmemDevice::features() {
  if (identity_.revision < 2) return 0;
  if (!kmod_) return registers_.features();
  auto info = kmod_->info();
  return info ? info->features : 0;
}

uint32_t IvshmemDevice::state() {
  if (identity_.revision < 2) return 0;
  if (!kmod_) return registers_.read(IvshmemRegisters::kState);
  auto info = kmod_->info();
  return info ? info->state : 0;
}

Status IvshmemDevice::ring(uint16_t peer, uint16_t vector) {
  if (kmod_) return kmod_->ring(peer, vector);
  registers_.ring(peer, vector);
  return {};
}

Result<std::vector<PciFunction>> list_ivshmem_functions(const std::string& sysfs_root) {
  NN_ASSIGN_OR_RETURN(std::vector<PciFunction> all, list_pci_functions(sysfs_root));
  std::vector<PciFunction> out;
  for (auto& fn : all) {
    if (identify_ivshmem(fn)) out.push_back(std::move(fn));
  }
  return out;
}

Status bind_to_uio(const PciFunction& fn) {
  if (fn.driver == "uio_pci_generic") return {};
  std::string drivers = fn.sysfs_root + "/bus/pci/drivers/uio_pci_generic";
  if (::access(drivers.c_str(), F_OK) != 0)
    return Error::format("uio_pci_generic is not loaded (modprobe uio_pci_generic)");
  NN_TRY(write_text(fn.path() + "/driver_override", "uio_pci_generic"));
  if (!fn.driver.empty()) NN_TRY(write_text(fn.path() + "/driver/unbind", fn.bdf));
  return write_text(fn.sysfs_root + "/bus/pci/drivers_probe", fn.bdf);
}

Result<std::string> uio_device_of(const PciFunction& fn) {
  std::string dir = fn.path() + "/uio";
  DIR* d = ::opendir(dir.c_str());
  if (!d)
    return Error::format("{} is not bound to uio_pci_generic (run: ivshmem-guest bind-uio -d {})", fn.bdf, fn.bdf);
  std::string name;
  while (dirent* e = ::readdir(d)) {
    if (std::strncmp(e->d_name, "uio", 3) == 0) name = e->d_name;
  }
  ::closedir(d);
  if (name.empty()) return Error::format("{}: no uio device under {}", fn.bdf, dir);
  // A fake sysfs tree (the unit tests) keeps its device nodes in its own dev/ folder.
  return (fn.sysfs_root == kSysfsRoot ? std::string("/dev") : fn.sysfs_root + "/dev") + "/" + name;
}

}  // namespace nahanni::guest
