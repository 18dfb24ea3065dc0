// A fake /sys for the guest tool's tests: PCI functions as directories of the files Linux
// provides (vendor, device, class, irq, resource, config, resourceN). The resourceN files
// are ordinary files of the BAR's size, so mapping them works as on a real guest.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace nahanni::guest::test {

struct FakeFunction {
  std::string bdf = "0000:00:03.0";
  uint16_t vendor = 0x1af4, device = 0x1110;
  uint8_t revision = 1, interrupt_pin = 0;
  unsigned irq = 0;
  bool msix = false;  // MSI-X capability at 0x40: table in BAR1 at 0, PBA at 0x800, 2 vectors
  uint16_t command = 0;
  std::vector<uint64_t> bar_sizes = {256, 0, 1 << 20};  // BAR0, BAR1, BAR2
  std::string driver;
};

class FakeSysfs {
 public:
  FakeSysfs() {
    char tmpl[] = "/tmp/nahanni-fake-sysfs.XXXXXX";
    root_ = ::mkdtemp(tmpl);
    std::filesystem::create_directories(root_ + "/bus/pci/devices");
  }
  ~FakeSysfs() { std::filesystem::remove_all(root_); }
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  const std::string& root() const { return root_; }
  std::string dir(const std::string& bdf) const { return root_ + "/bus/pci/devices/" + bdf; }

  void add(const FakeFunction& f) {
    std::string d = dir(f.bdf);
    std::filesystem::create_directories(d);
    write(d + "/vendor", hex(f.vendor, 4));
    write(d + "/device", hex(f.device, 4));
    write(d + "/class", hex(0x050000, 6));
    write(d + "/irq", std::to_string(f.irq) + "\n");
    std::string res;
    uint64_t base = 0xfe000000;
    for (size_t i = 0; i < 6; ++i) {
      uint64_t size = i < f.bar_sizes.size() ? f.bar_sizes[i] : 0;
      if (size) {
        res += hex64(base) + " " + hex64(base + size - 1) + " " + hex64(0x40200) + "\n";
        base += size < 0x100000 ? 0x100000 : size;
        std::ofstream(d + "/resource" + std::to_string(i)).close();
        std::filesystem::resize_file(d + "/resource" + std::to_string(i), size);
      } else {
        res += hex64(0) + " " + hex64(0) + " " + hex64(0) + "\n";
      }
    }
    write(d + "/resource", res);
    std::vector<uint8_t> config(256, 0);
    config[0] = f.vendor & 0xff; config[1] = f.vendor >> 8;
    config[2] = f.device & 0xff; config[3] = f.device >> 8;
    config[4] = f.command & 0xff; config[5] = f.command >> 8;
    config[8] = f.revision;
    config[0x3d] = f.interrupt_pin;
    if (f.msix) {
      config[6] |= 0x10;  // capability list
      config[0x34] = 0x40;
      config[0x40] = 0x11;  // MSI-X, last in the list
      config[0x42] = 1;     // table size 2
      config[0x44] = 1;     // table: BAR1 offset 0
      config[0x48] = 1; config[0x49] = 0x08;  // PBA: BAR1 offset 0x800
    }
    std::ofstream(d + "/config", std::ios::binary).write(reinterpret_cast<const char*>(config.data()), 256);
    if (!f.driver.empty()) {
      std::filesystem::create_directories(root_ + "/bus/pci/drivers/" + f.driver);
      std::filesystem::create_directory_symlink("../../drivers/" + f.driver, d + "/driver");
    }
  }

  std::vector<uint8_t> read_bytes(const std::string& path) const {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  void write_bytes(const std::string& path, size_t offset, const std::vector<uint8_t>& bytes) const {
    int fd = ::open(path.c_str(), O_WRONLY);
    (void)!::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset));
    ::close(fd);
  }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

 private:
  static std::string hex(uint64_t v, int digits) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0x%0*llx\n", digits, static_cast<unsigned long long>(v));
    return buf;
  }
  static std::string hex64(uint64_t v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0x%016llx", static_cast<unsigned long long>(v));
    return buf;
  }
  std::string root_;
};

}  // namespace nahanni::guest::test
