// The PVH test guest (tests/guest) under nahanni -accel kvm with one ivshmem-doorbell (id "ivs",
// 2 vectors) next to a host peer (id 0) on a fresh ivshmem-server, and a QMP connection to the
// emulator. Skips without /dev/kvm or without the test guest.
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../contrib/test-support.h"
#include "util/socket.h"

namespace nahanni::test {

using ivshmem::test::RawPeer;
using ivshmem::test::Subprocess;
using ivshmem::test::TempDir;

// A QMP connection: greeting, capabilities, then commands answered in order.
class Qmp {
 public:
  bool connect(const std::string& path) {
    bool ok = ivshmem::test::eventually([&] {
      auto fd = unix_connect(path);
      if (!fd) return false;
      fd_ = std::move(*fd);
      return true;
    });
    if (!ok) return false;
    read_message();  // greeting
    return command(R"({"execute":"qmp_capabilities"})").contains("return");
  }
  nlohmann::json command(const std::string& text) {
    std::string line = text + "\n";
    if (::write(fd_.get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) return {};
    for (;;) {
      nlohmann::json m = read_message();
      if (m.is_null() || m.contains("return") || m.contains("error")) return m;
    }
  }
  nlohmann::json status() {
    auto r = command(R"({"execute":"qom-get","arguments":{"path":"/machine/peripheral/ivs","property":"status"}})");
    return r.contains("return") ? r["return"] : nlohmann::json();
  }

 private:
  nlohmann::json read_message() {
    for (;;) {
      size_t nl = buffer_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        return nlohmann::json::parse(line, nullptr, false);
      }
      char buf[4096];
      ssize_t n = ::read(fd_.get(), buf, sizeof buf);
      if (n <= 0) return {};
      buffer_.append(buf, static_cast<size_t>(n));
    }
  }
  UniqueFd fd_;
  std::string buffer_;
};

class KvmGuestTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) GTEST_SKIP() << "/dev/kvm cannot be opened: KVM fast-path tests skipped";
    ::close(fd);
    const char* guest = std::getenv("TEST_GUEST");
    if (!guest || !*guest || !ivshmem::test::exists(guest)) GTEST_SKIP() << "the test guest was not built";
    guest_ = guest;
    server_ = ivshmem::test::start_server(dir_, dir_.file("sock"), {"-l", "1M", "-n", "2"});
    ASSERT_NE(server_, nullptr);
    host_ = std::make_unique<RawPeer>(dir_.file("sock"));
    ASSERT_TRUE(host_->pump_until([&] { return host_->session().ready() && host_->vectors_of(host_->id()) == 2; }));
    ASSERT_EQ(host_->id(), 0);
  }

  // The guest is peer 1; `steps` runs after it has set up the device.
  void start_guest(const std::string& steps, const std::string& device_options = "") {
    std::vector<std::string> argv{ivshmem::test::binary("NAHANNI_SYSTEM", "nahanni-system-x86_64"),
                                  "-accel", "kvm", "-m", "256", "-display", "none",
                                  "-kernel", guest_, "-append", steps,
                                  "-serial", "file:" + dir_.file("serial"),
                                  "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                                  "-chardev", "socket,id=c0,path=" + dir_.file("sock"),
                                  "-device", "ivshmem-doorbell,chardev=c0,vectors=2,id=ivs" + device_options,
                                  "-qmp", "unix:" + dir_.file("qmp") + ",server=on,wait=off"};
    vm_ = std::make_unique<Subprocess>(argv, dir_);
    ivshmem::test::eventually([&] { return ivshmem::test::exists(dir_.file("qmp")) || !vm_->running(); });
    if (!vm_->running() || !qmp_.connect(dir_.file("qmp"))) {
      vm_->wait();
      // Every build has the -kernel loaders (hw/i386), so "has no firmware" here means a broken
      // -kernel path: a failure like any other.
      FAIL() << "no QMP: " << vm_->err();
    }
    ASSERT_TRUE(host_->pump_until([&] { return host_->vectors_of(1) == 2; }));
  }

  std::string serial() const { return ivshmem::test::read_file(dir_.file("serial")); }

  TempDir dir_;
  std::string guest_;
  std::unique_ptr<Subprocess> server_;
  std::unique_ptr<RawPeer> host_;
  std::unique_ptr<Subprocess> vm_;
  Qmp qmp_;
};

// start_guest, then leave the test when it skipped or failed.
#define START_GUEST(...)                              \
  do {                                                \
    start_guest(__VA_ARGS__);                         \
    if (IsSkipped() || HasFatalFailure()) return;     \
  } while (0)

}  // namespace nahanni::test
