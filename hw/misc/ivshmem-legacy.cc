// The legacy "ivshmem" device (deprecated in QEMU 2.6, removed in 4.0), kept as a shim: it takes
// every old property, says once what to use instead, and maps the configuration onto the plain
// or doorbell core with the old guest ABI (revision 0, INTA pin). Where the old device silently
// ignored a property it warns; what it rejected it still rejects.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "backends/hostmem.h"
#include "chardev/char.h"
#include "hw/misc/ivshmem-doorbell.h"
#include "qom/property.h"
#include "qom/type.h"
#include "util/log.h"
#include "util/size.h"

namespace nahanni {
namespace {

class IvshmemLegacy : public IvshmemDoorbell {
 public:
  ~IvshmemLegacy() override { release_shm(); }
  std::string legacy_chardev_;
  std::string size_text_;
  uint32_t legacy_vectors_ = 1;
  bool legacy_ioeventfd_ = false;
  bool legacy_msi_ = true;
  std::string shm_;
  std::string role_;
  HostMemoryBackend* memdev_ = nullptr;
  uint32_t use64_number_ = 1;

  // Records which properties the user gave, to warn about the ones the old device ignored.
  std::optional<Error> property_change_refused(std::string_view name) const override {
    given_.insert(std::string(name));
    return IvshmemDoorbell::property_change_refused(name);
  }

 protected:
  Status do_realize() override;
  void do_unrealize() override;

 private:
  bool given(const char* name) const { return given_.count(name) != 0; }
  void warn_ignored(const char* property, const char* mode) const {
    if (given(property)) log::warnf("ivshmem: '{}' has no effect with '{}' and is ignored", property, mode);
  }
  std::string replacement(const std::string& mode) const;
  Status realize_shm(uint64_t size);
  void release_shm() {
    if (shm_host_) ::munmap(shm_host_, shm_size_);
    shm_host_ = nullptr;
    shm_fd_.reset();
  }
  // A realize that fails removes the object it created: nothing is left in /dev/shm.
  void discard_shm() {
    release_shm();
    if (shm_created_) ::shm_unlink(("/" + shm_).c_str());
    shm_created_ = false;
  }

  mutable std::set<std::string> given_;
  UniqueFd shm_fd_;
  uint8_t* shm_host_ = nullptr;
  uint64_t shm_size_ = 0;
  bool shm_created_ = false;
  bool memdev_taken_ = false;
};

std::string IvshmemLegacy::replacement(const std::string& mode) const {
  if (mode == "chardev")
    return fmt::format("-device ivshmem-doorbell,chardev={},vectors={}{}", legacy_chardev_, legacy_vectors_,
                       legacy_msi_ ? "" : ",msi=off,ioeventfd=off");
  if (mode == "memdev") return fmt::format("-device ivshmem-plain,memdev={}", memdev_ ? memdev_->name() : "");
  return fmt::format("-object memory-backend-file,id=ID,size={},share=on,mem-path=/dev/shm/{} "
                     "-device ivshmem-plain,memdev=ID",
                     size_text_.empty() ? "4M" : size_text_, shm_);
}

Status IvshmemLegacy::realize_shm(uint64_t size) {
  // The old semantics: create the object with `size`, or open an existing one at least that big.
  std::string name = "/" + shm_;
  bool created = false;
  shm_fd_.reset(::shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (shm_fd_) {
    created = true;
    if (::ftruncate(shm_fd_.get(), static_cast<off_t>(size)) < 0) {
      int err = errno;
      shm_fd_.reset();
      ::shm_unlink(name.c_str());
      return Error::format("could not size shared memory object {}: {}", shm_, std::strerror(err));
    }
    // tmpfs gives pages out when first touched: a /dev/shm without room for `size` would raise
    // SIGBUS in a guest access later. Reserving them makes a shortage this error instead.
    if (::fallocate(shm_fd_.get(), 0, 0, static_cast<off_t>(size)) < 0 && errno != EOPNOTSUPP && errno != ENOSYS) {
      int err = errno;
      shm_fd_.reset();
      ::shm_unlink(name.c_str());
      return Error::format("could not allocate {} for shared memory object {}: {}", format_size(size), shm_,
                           std::strerror(err));
    }
  } else if (errno == EEXIST) {
    shm_fd_.reset(::shm_open(name.c_str(), O_RDWR | O_CLOEXEC, 0));
    if (!shm_fd_) return Error::format("could not open shared memory object {}: {}", shm_, std::strerror(errno));
    struct stat st{};
    if (::fstat(shm_fd_.get(), &st) < 0 || static_cast<uint64_t>(st.st_size) < size)
      return Error::format("shared memory object {} is smaller than size {}", shm_, format_size(size));
  } else {
    return Error::format("could not create shared memory object {}: {}", shm_, std::strerror(errno));
  }
  void* host = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, shm_fd_.get(), 0);
  if (host == MAP_FAILED) {
    int err = errno;
    shm_fd_.reset();
    if (created) ::shm_unlink(name.c_str());
    return Error::format("could not map shared memory object {}: {}", shm_, std::strerror(err));
  }
  shm_host_ = static_cast<uint8_t*>(host);
  shm_size_ = size;
  shm_created_ = created;
  return {};
}

Status IvshmemLegacy::do_realize() {
  int backends = (given("chardev") ? 1 : 0) + (given("shm") ? 1 : 0) + (given("memdev") ? 1 : 0);
  if (backends == 0) return Error("You must specify either 'shm', 'chardev' or 'memdev'");
  if (backends > 1) return Error("only one of 'shm', 'chardev' and 'memdev' may be given");
  std::string mode = given("chardev") ? "chardev" : given("shm") ? "shm" : "memdev";
  // Configuration errors first: a command line that cannot work gets one error line, not a
  // deprecation warning recommending its equally broken translation.
  if (!role_.empty() && role_ != "peer" && role_ != "master") return Error("'role' must be 'peer' or 'master'");
  master_ = role_ == "master" ? OnOffAuto::On : role_ == "peer" ? OnOffAuto::Off : OnOffAuto::Auto;
  use64_ = use64_number_ != 0;
  uint64_t size = 4ull << 20;
  if (given("size")) {
    auto parsed = parse_size(size_text_, 1ull << 20);  // a bare number is MiB, as it was
    if (!parsed || !is_power_of_2(*parsed)) return Error::format("Invalid size {}", size_text_);
    size = *parsed;
  }
  if (mode == "chardev" && legacy_ioeventfd_ && !legacy_msi_) return Error("ioeventfd/irqfd requires MSI");
  log::warnf("ivshmem is deprecated, please use ivshmem-plain or ivshmem-doorbell instead: {}", replacement(mode));

  if (mode == "chardev") {
    Chardev* chr = find_chardev(legacy_chardev_);
    if (!chr) return Error::format("Property 'ivshmem.chardev' can't find value '{}'", legacy_chardev_);
    return realize_doorbell(DoorbellSettings{.chardev = chr, .chardev_id = legacy_chardev_, .size = size,
                                             .vectors = legacy_vectors_, .msi = legacy_msi_,
                                             .ioeventfd = legacy_ioeventfd_, .setup_timeout_ms = setup_timeout_ms_,
                                             .size_is_minimum = true},
                            ivshmem::kDeviceIdPlain, ivshmem::kRevisionLegacy);
  }
  for (const char* p : {"vectors", "ioeventfd", "msi"}) warn_ignored(p, mode.c_str());
  if (mode == "memdev") {
    warn_ignored("size", "memdev");
    if (memdev_->in_use()) return Error::format("can't use already busy memdev: {}", memdev_->name());
    NN_TRY(realize_core(Config{.device_id = ivshmem::kDeviceIdPlain, .revision = ivshmem::kRevisionLegacy,
                               .intx = true, .vectors = 0}));
    if (Status st = map_shared_memory(memdev_->host(), memdev_->size(), memdev_->fd(), "memdev '" + memdev_->name() + "'");
        !st) {
      unrealize_core();
      return st;
    }
    memdev_->set_in_use(true);
    memdev_taken_ = true;
    return {};
  }
  NN_TRY(realize_shm(size));
  if (Status st = realize_core(Config{.device_id = ivshmem::kDeviceIdPlain, .revision = ivshmem::kRevisionLegacy,
                                      .intx = true, .vectors = 0});
      !st) {
    discard_shm();
    return st;
  }
  if (Status st = map_shared_memory(shm_host_, shm_size_, shm_fd_.get(), "shm '" + shm_ + "'"); !st) {
    unrealize_core();
    discard_shm();
    return st;
  }
  shm_created_ = false;  // from now on the object outlives the device, as it did in QEMU
  return {};
}

void IvshmemLegacy::do_unrealize() {
  if (memdev_taken_ && memdev_) memdev_->set_in_use(false);
  memdev_taken_ = false;
  IvshmemDoorbell::do_unrealize();
  release_shm();
}

std::vector<PropertyInfo> legacy_properties() {
  using L = IvshmemLegacy;
  std::vector<PropertyInfo> props = {
      string_property<L>("chardev", &L::legacy_chardev_, "ID of a chardev to use as a backend"),
      string_property<L>("size", &L::size_text_, "shared memory size (a bare number is MiB)"),
      uint_property<L, uint32_t>("vectors", &L::legacy_vectors_, "", 1u),
      bool_property<L>("ioeventfd", &L::legacy_ioeventfd_, "on/off", false),
      bool_property<L>("msi", &L::legacy_msi_, "on/off", true),
      string_property<L>("shm", &L::shm_, "POSIX shared memory object name"),
      string_property<L>("role", &L::role_, "peer or master"),
      link_property<L, HostMemoryBackend>("memdev", &L::memdev_, "memory-backend"),
      uint_property<L, uint32_t>("use64", &L::use64_number_, "", 1u),
  };
  props[1].default_value = "\"4M\"";
  return props;
}

const TypeRegistration kLegacy{TypeInfo{.name = "ivshmem",
                                        .parent = std::string(kIvshmemCommonType),
                                        .description = "Inter-VM shared memory (legacy)",
                                        .factory = make_factory<IvshmemLegacy>(),
                                        .properties = legacy_properties(),
                                        .category = "Misc devices",
                                        .bus_type = "PCI"}};

}  // namespace
}  // namespace nahanni
