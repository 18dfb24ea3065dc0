// Configuration errors of the ivshmem devices (issue #4): each invalid command line ends the
// emulator with exit status 1 and exactly one line on stderr, naming the option as typed (as
// QEMU prints it), and leaves nothing behind in /dev/shm. Where QEMU has a message for the same
// fault, the wording is QEMU's. Servers that misbehave during setup are played by the test.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <cstring>
#include <future>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ivshmem_test_support.h"
#include "libqtest.h"

namespace nahanni::qtest {
namespace {

using namespace ivtest;

const std::string kBase = "-nodefaults -display none -machine pc -accel qtest -S";
const std::string kMem1M = "-object memory-backend-memfd,id=m,size=1M,share=on";
const std::string kNull = "-chardev null,id=c";

// What the test's fake server at SOCK does with the emulator's connection.
enum class FakeServer { kNone, kSilent, kCloses, kClosesAfterId, kVersion1 };

struct Case {
  const char* what;
  std::string setup;      // options before the faulty one; SOCK is the fake server's socket
  std::string offending;  // the option the message names
  std::string message;
  FakeServer server = FakeServer::kNone;
};

std::vector<Case> cases() {
  return {
      {"plain without memdev", "", "-device ivshmem-plain", "You must specify a 'memdev'"},
      {"unknown memdev", "", "-device ivshmem-plain,memdev=nope", "Device 'nope' not found"},
      {"busy memdev", kMem1M + " -device ivshmem-plain,memdev=m", "-device ivshmem-plain,memdev=m",
       "can't use already busy memdev: m"},
      {"memdev size not a power of two", "-object memory-backend-memfd,id=m,size=3M,share=on",
       "-device ivshmem-plain,memdev=m", "memdev 'm' size 3145728 (3 MiB) is not a power of two: a PCI BAR must be"},
      {"use64=off with a 4 GiB memdev", "-object memory-backend-memfd,id=m,size=4G,share=on",
       "-device ivshmem-plain,memdev=m,use64=off", "memdev 'm' size 4 GiB does not fit a 32-bit BAR: use use64=on"},
      {"bad master value", kMem1M, "-device ivshmem-plain,memdev=m,master=maybe",
       "Parameter 'master' does not accept value 'maybe'"},
      {"doorbell without chardev", "", "-device ivshmem-doorbell", "You must specify a 'chardev'"},
      {"unknown chardev", "", "-device ivshmem-doorbell,chardev=nope",
       "Property 'ivshmem-doorbell.chardev' can't find value 'nope'"},
      {"ioeventfd without msi", kNull, "-device ivshmem-doorbell,chardev=c,msi=off",
       "ioeventfd/irqfd requires MSI: use msi=on, or ioeventfd=off with msi=off"},
      {"several vectors over INTx", kNull, "-device ivshmem-doorbell,chardev=c,msi=off,ioeventfd=off,vectors=2",
       "vectors=2 requires msi=on: INTx carries a single interrupt"},
      {"no vectors", kNull, "-device ivshmem-doorbell,chardev=c,vectors=0",
       "vectors=0 is invalid: a device has 1 to 2048 MSI-X vectors"},
      {"too many vectors", kNull, "-device ivshmem-doorbell,chardev=c,vectors=4096",
       "vectors=4096 is invalid: a device has 1 to 2048 MSI-X vectors"},
      {"x-max-peers out of range", kNull, "-device ivshmem-doorbell,chardev=c,x-max-peers=0",
       "x-max-peers=0 is invalid: a device accepts 1 to 65535 other peers"},
      {"doorbell size not a power of two", kNull, "-device ivshmem-doorbell,chardev=c,size=3M",
       "size 3145728 (3 MiB) is not a power of two: a PCI BAR must be"},
      {"name too long", kMem1M, "-device ivshmem-plain,memdev=m,name=" + std::string(64, 'n'),
       "Parameter 'name' is longer than 63 characters"},
      {"name not ASCII", kMem1M, "-device ivshmem-plain,memdev=m,name=caf\xc3\xa9",
       "Parameter 'name' must be printable ASCII"},
      {"unknown property", kMem1M, "-device ivshmem-plain,memdev=m,foo=1", "Property 'ivshmem-plain.foo' not found"},
      {"legacy without backend", "", "-device ivshmem", "You must specify either 'shm', 'chardev' or 'memdev'"},
      {"legacy with two backends", kMem1M, "-device ivshmem,memdev=m,shm=nahanni-iverr",
       "only one of 'shm', 'chardev' and 'memdev' may be given"},
      {"legacy bad role", kMem1M, "-device ivshmem,memdev=m,role=boss", "'role' must be 'peer' or 'master'"},
      {"legacy bad size", "", "-device ivshmem,shm=nahanni-iverr,size=3M", "Invalid size 3M"},
      {"legacy ioeventfd without msi", kNull, "-device ivshmem,chardev=c,ioeventfd=on,msi=off",
       "ioeventfd/irqfd requires MSI"},
      {"server socket missing", "", "-chardev socket,id=c,path=SOCK",
       "Failed to connect to 'SOCK': No such file or directory"},
      {"server never sends", "-chardev socket,id=c,path=SOCK",
       "-device ivshmem-doorbell,chardev=c,x-setup-timeout=300",
       "server did not complete the setup within 300 ms (version, id and shared memory)", FakeServer::kSilent},
      {"server closes during setup", "-chardev socket,id=c,path=SOCK", "-device ivshmem-doorbell,chardev=c",
       "server closed the connection during setup", FakeServer::kCloses},
      {"server closes after version and id", "-chardev socket,id=c,path=SOCK", "-device ivshmem-doorbell,chardev=c",
       "server closed the connection during setup", FakeServer::kClosesAfterId},
      {"server speaks version 1", "-chardev socket,id=c,path=SOCK", "-device ivshmem-doorbell,chardev=c",
       "server sent version 1, expecting 0", FakeServer::kVersion1},
      {"duplicate device id", kMem1M + " -object memory-backend-memfd,id=m2,size=1M,share=on"
                                       " -device ivshmem-plain,memdev=m,id=a",
       "-device ivshmem-plain,memdev=m2,id=a", "Duplicate ID 'a' for device"},
      {"addr in use", kMem1M + " -object memory-backend-memfd,id=m2,size=1M,share=on"
                               " -device ivshmem-plain,memdev=m,addr=5",
       "-device ivshmem-plain,memdev=m2,addr=5",
       "PCI: slot 5 function 0 not available for ivshmem-plain, in use by ivshmem-plain,id=(null)"},
      {"romfile", kMem1M, "-device ivshmem-plain,memdev=m,romfile=foo", "romfile 'foo' is not supported: nahanni has no option ROMs"},
  };
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// A listening UNIX socket; `behaviour` runs on a thread for the first connection.
class FakeServerSocket {
 public:
  FakeServerSocket(const std::string& path, FakeServer behaviour) : path_(path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error("socket");
    listener_ = UniqueFd(fd);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(fd, 4) < 0)
      throw std::runtime_error("bind/listen " + path);
    if (behaviour == FakeServer::kSilent) return;  // the connection waits in the backlog, unanswered
    thread_ = std::thread([this, behaviour] {
      UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn || behaviour == FakeServer::kCloses) return;
      if (behaviour == FakeServer::kClosesAfterId) {
        int64_t setup[2] = {0, 7};  // version 0, id 7; little endian on every host this runs on
        ssize_t n = ::write(conn.get(), setup, sizeof setup);
        (void)n;
        return;  // closes before the shared memory
      }
      int64_t version = 1;
      if (::write(conn.get(), &version, sizeof version) != sizeof version) return;
      char c;
      while (::read(conn.get(), &c, 1) > 0) {}  // until the emulator goes
    });
  }
  ~FakeServerSocket() {
    ::shutdown(listener_.get(), SHUT_RDWR);  // wakes an accept() that never got a connection
    if (thread_.joinable()) thread_.join();
    ::unlink(path_.c_str());
  }

 private:
  std::string path_;
  UniqueFd listener_;
  std::thread thread_;
};

// Entries that concurrently running tests of this suite create and remove on their own.
bool belongs_to_another_test(const std::string& name) {
  return name.rfind("nahanni-ivplain", 0) == 0 || name.rfind("nahanni-ivlegacy", 0) == 0 ||
         name.rfind("nahanni-ivhot", 0) == 0 || name.rfind("ivshmem", 0) == 0 || name.rfind("qtest-", 0) == 0 ||
         name.rfind("nn-ivshmem-test", 0) == 0;  // the ivshmem-server tests' own objects
}

class IvshmemErrors : public testing::TestWithParam<Case> {};

TEST_P(IvshmemErrors, exits_with_one_line_naming_the_option) {
  const Case& c = GetParam();
  TempDir dir("nn-iverr");
  std::string sock = dir.file("server.sock");
  std::optional<FakeServerSocket> server;
  if (c.server != FakeServer::kNone) server.emplace(sock, c.server);
  std::string setup = replace_all(c.setup, "SOCK", sock);
  std::string offending = replace_all(c.offending, "SOCK", sock);

  auto before = dev_shm_entries();
  RunResult r = run_emulator(kBase + " " + setup + " " + offending, 20s);
  auto after = dev_shm_entries();

  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status, (ExitStatus{.exited = true, .code = 1}));
  EXPECT_EQ(r.err, fmt::format("nahanni-system-x86_64: {}: {}\n", offending, replace_all(c.message, "SOCK", sock)));
  EXPECT_EQ(r.out, "");
  std::vector<std::string> left;
  for (const auto& name : after)
    if (!before.count(name) && !belongs_to_another_test(name)) left.push_back(name);
  EXPECT_EQ(left, std::vector<std::string>{}) << "left behind in /dev/shm";
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string name;
  for (char ch : std::string(info.param.what)) name.push_back(std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_');
  return name;
}

INSTANTIATE_TEST_SUITE_P(Table, IvshmemErrors, testing::ValuesIn(cases()), case_name);

TEST(IvshmemErrorsTable, covers_at_least_twenty_configurations) { EXPECT_GE(cases().size(), 20u); }

}  // namespace
}  // namespace nahanni::qtest
