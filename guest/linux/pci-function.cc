#include "pci-function.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "util/fd.h"

namespace nahanni::guest {

namespace {

inline constexpr uint8_t kCapMsix = 0x11;
inline constexpr unsigned kConfigStatus = 0x06, kStatusCapList = 0x10, kConfigCapPointer = 0x34,
                          kConfigInterruptPin = 0x3d;

Result<std::string> read_text(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error::format("cannot read {}: {}", path, std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<uint64_t> read_number(const std::string& path) {
  NN_ASSIGN_OR_RETURN(std::string text, read_text(path));
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(text.c_str(), &end, 0);
  if (errno != 0 || end == text.c_str() || (*end != '\0' && *end != '\n'))
    return Error::format("{}: '{}' is not a number", path, text.substr(0, text.find('\n')));
  return static_cast<uint64_t>(v);
}

Result<std::vector<PciResource>> read_resources(const std::string& path) {
  NN_ASSIGN_OR_RETURN(std::string text, read_text(path));
  std::vector<PciResource> out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    PciResource r;
    std::istringstream fields(line);
    std::string a, b, c;
    if (!(fields >> a >> b >> c)) return Error::format("{}: malformed line '{}'", path, line);
    try {
      r.start = std::stoull(a, nullptr, 16);
      r.end = std::stoull(b, nullptr, 16);
      r.flags = std::stoull(c, nullptr, 16);
    } catch (const std::exception&) {
      return Error::format("{}: malformed line '{}'", path, line);
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace

std::string PciFunction::path() const { return sysfs_root + "/bus/pci/devices/" + bdf; }
std::string PciFunction::resource_path(int bar) const { return path() + "/resource" + std::to_string(bar); }
const PciResource* PciFunction::resource(int bar) const {
  if (bar < 0 || static_cast<size_t>(bar) >= resources.size() || !resources[bar].present()) return nullptr;
  return &resources[bar];
}

uint8_t find_capability(const std::vector<uint8_t>& config, uint8_t id) {
  if (config.size() < 64 || !(config[kConfigStatus] & kStatusCapList)) return 0;
  uint8_t ptr = config[kConfigCapPointer] & 0xfc;
  // A malformed list could loop; 48 hops is every possible 4-byte slot above 0x40.
  for (int hops = 0; ptr >= 0x40 && hops < 48; ++hops) {
    if (static_cast<size_t>(ptr) + 1 >= config.size()) return 0;
    if (config[ptr] == id) return ptr;
    ptr = config[ptr + 1] & 0xfc;
  }
  return 0;
}

Result<std::vector<uint8_t>> read_config(const PciFunction& fn) {
  std::string path = fn.path() + "/config";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Error::format("cannot open {}: {}", path, std::strerror(errno));
  std::vector<uint8_t> buf(4096);
  ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), 0);
  if (n < 0) return Error::format("cannot read {}: {}", path, std::strerror(errno));
  buf.resize(static_cast<size_t>(n));
  return buf;
}

Status write_config(const PciFunction& fn, unsigned offset, const void* data, size_t len) {
  std::string path = fn.path() + "/config";
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error::format("cannot open {} for writing: {}", path, std::strerror(errno));
  ssize_t n = ::pwrite(fd.get(), data, len, offset);
  if (n != static_cast<ssize_t>(len))
    return Error::format("cannot write {} bytes at {:#x} of {}: {}", len, offset, path,
                         n < 0 ? std::strerror(errno) : "short write");
  return {};
}

Result<PciFunction> read_pci_function(const std::string& sysfs_root, const std::string& bdf) {
  PciFunction fn;
  fn.sysfs_root = sysfs_root;
  fn.bdf = bdf;
  std::string dir = fn.path();
  NN_ASSIGN_OR_RETURN(uint64_t vendor, read_number(dir + "/vendor"));
  NN_ASSIGN_OR_RETURN(uint64_t device, read_number(dir + "/device"));
  NN_ASSIGN_OR_RETURN(uint64_t cls, read_number(dir + "/class"));
  NN_ASSIGN_OR_RETURN(uint64_t irq, read_number(dir + "/irq"));
  NN_ASSIGN_OR_RETURN(fn.resources, read_resources(dir + "/resource"));
  fn.vendor = static_cast<uint16_t>(vendor);
  fn.device = static_cast<uint16_t>(device);
  fn.class_code = static_cast<uint32_t>(cls);
  fn.irq = static_cast<unsigned>(irq);
  NN_ASSIGN_OR_RETURN(std::vector<uint8_t> config, read_config(fn));
  if (config.size() < 64) return Error::format("{}/config: {} bytes, expected at least 64", dir, config.size());
  // The revision file is newer than the config file; the config byte is always there.
  fn.revision = config[0x08];
  fn.interrupt_pin = config[kConfigInterruptPin];
  fn.msix_capability = find_capability(config, kCapMsix);
  char link[4096];
  ssize_t n = ::readlink((dir + "/driver").c_str(), link, sizeof(link) - 1);
  if (n > 0) {
    link[n] = '\0';
    const char* slash = std::strrchr(link, '/');
    fn.driver = slash ? slash + 1 : link;
  }
  return fn;
}

Result<std::vector<PciFunction>> list_pci_functions(const std::string& sysfs_root) {
  std::string dir = sysfs_root + "/bus/pci/devices";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return Error::format("cannot list {}: {}", dir, std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  std::vector<PciFunction> out;
  for (const auto& name : names) {
    NN_ASSIGN_OR_RETURN(PciFunction fn, read_pci_function(sysfs_root, name));
    out.push_back(std::move(fn));
  }
  return out;
}

}  // namespace nahanni::guest
