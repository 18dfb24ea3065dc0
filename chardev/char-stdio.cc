// -chardev stdio: input from stdin, output to stdout. A terminal on stdin is switched to raw
// input (signal=on keeps Ctrl-C working) and restored when the chardev goes away.
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <memory>
#include <optional>
#include <cerrno>

#include "chardev/char-internal.h"
#include "chardev/char.h"
#include "qom/type.h"
#include "system/main-loop.h"

namespace nahanni {
namespace {

constexpr int kStdin = 0;
constexpr int kStdout = 1;

// stdin can feed only one reader.
bool stdio_in_use = false;

class StdioChardev final : public Chardev {
 public:
  ~StdioChardev() override {
    *alive_ = false;
    watch_.reset();
    if (saved_termios_) ::tcsetattr(kStdin, TCSANOW, &*saved_termios_);
    if (owner_) stdio_in_use = false;
  }

  Status configure(const OptionList& opts) override {
    signal_ = chardev_opt_bool(opts, "signal", true);
    return {};
  }

  Status complete() override {
    if (stdio_in_use) return Error("cannot use stdio by multiple character devices");
    stdio_in_use = owner_ = true;
    termios t{};
    if (::isatty(kStdin) && ::tcgetattr(kStdin, &t) == 0) {
      saved_termios_ = t;
      t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
      t.c_lflag &= ~(ECHO | ECHONL | ICANON | IEXTEN);
      if (!signal_) t.c_lflag &= ~ISIG;
      t.c_cc[VMIN] = 1;
      t.c_cc[VTIME] = 0;
      ::tcsetattr(kStdin, TCSANOW, &t);
    }
    return {};
  }

  using Chardev::write_all;
  bool write_all(std::span<const uint8_t> data) override {
    while (!data.empty()) {
      ssize_t n = ::write(kStdout, data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data = data.subspan(static_cast<size_t>(n));
    }
    return true;
  }

  bool connected() const override { return true; }

 protected:
  void frontend_changed() override {
    watch_.reset();
    if (!attached() || eof_) return;
    struct stat st{};
    if (::fstat(kStdin, &st) == 0 && S_ISREG(st.st_mode)) {
      schedule_file_read();  // epoll cannot watch a regular file: it is always readable
      return;
    }
    watch_ = main_loop().watch_fd(kStdin, EventLoop::kReadable, [this](uint32_t) { on_readable(); });
  }

 private:
  void on_readable() {
    std::array<uint8_t, 4096> buf;
    ssize_t n = ::read(kStdin, buf.data(), buf.size());
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      // End of input: stop reading (the loop would spin on it) and tell the frontend once.
      eof_ = true;
      watch_.reset();
      deliver_event(ChardevEvent::Closed);
      return;
    }
    std::vector<UniqueFd> no_fds;
    deliver(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)), no_fds);
    if (file_input_) schedule_file_read();
  }

  void schedule_file_read() {
    file_input_ = true;
    main_loop().post([this, alive = std::weak_ptr<bool>(alive_)] {
      if (auto a = alive.lock(); a && *a && attached() && !eof_) on_readable();
    });
  }

  bool signal_ = true;
  bool owner_ = false;
  bool eof_ = false;
  bool file_input_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::optional<termios> saved_termios_;
  EventLoop::Handle watch_;
};

const TypeRegistration kStdioType{TypeInfo{.name = "chardev-stdio",
                                           .parent = std::string(kChardevType),
                                           .factory = make_factory<StdioChardev>(),
                                           .user_creatable = false}};

}  // namespace
}  // namespace nahanni
