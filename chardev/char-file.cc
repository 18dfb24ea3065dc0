// -chardev file: output to a file (truncated, or appended to with append=on); no input.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "chardev/char-internal.h"
#include "chardev/char.h"
#include "qom/type.h"

namespace nahanni {
namespace {

class FileChardev final : public Chardev {
 public:
  Status configure(const OptionList& opts) override {
    auto path = chardev_opt_string(opts, "path");
    if (!path) return Error("chardev: file: no filename given");
    path_ = *path;
    append_ = chardev_opt_bool(opts, "append", false);
    return {};
  }

  Status complete() override {
    int flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append_ ? O_APPEND : O_TRUNC);
    fd_.reset(::open(path_.c_str(), flags, 0666));
    if (!fd_) return Error::format("Could not open '{}': {}", path_, std::strerror(errno));
    return {};
  }

  using Chardev::write_all;
  bool write_all(std::span<const uint8_t> data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_.get(), data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      data = data.subspan(static_cast<size_t>(n));
    }
    return true;
  }

  bool connected() const override { return fd_.valid(); }

 private:
  std::string path_;
  bool append_ = false;
  UniqueFd fd_;
};

const TypeRegistration kFileType{TypeInfo{.name = "chardev-file",
                                          .parent = std::string(kChardevType),
                                          .factory = make_factory<FileChardev>(),
                                          .user_creatable = false}};

}  // namespace
}  // namespace nahanni
