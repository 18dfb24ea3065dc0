// ivshmem-doorbell: shared memory and interrupts from an ivshmem server.
//   -chardev socket,id=c0,path=/tmp/ivshmem_socket
//   -device ivshmem-doorbell,chardev=c0,vectors=4
// Realize completes the server handshake before the guest can run; combinations that make no
// sense (ioeventfd=on,msi=off; several vectors over INTx; a size the server does not send) are
// rejected with an error rather than ignored.
#include "hw/misc/ivshmem-doorbell.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "chardev/char.h"
#include "hw/misc/ivshmem-server-link.h"
#include "qom/property.h"
#include "qom/type.h"
#include "util/size.h"

namespace nahanni {

Status IvshmemDoorbell::realize_doorbell(const DoorbellSettings& s, uint16_t device_id, uint8_t revision) {
  if (!s.chardev) return Error("You must specify a 'chardev'");
  if (s.vectors == 0 || s.vectors > Msix::kMaxVectors)
    return Error::format("vectors={} is invalid: a device has 1 to {} MSI-X vectors", s.vectors, Msix::kMaxVectors);
  if (!s.msi && s.ioeventfd) return Error("ioeventfd/irqfd requires MSI: use msi=on, or ioeventfd=off with msi=off");
  if (!s.msi && s.vectors > 1)
    return Error::format("vectors={} requires msi=on: INTx carries a single interrupt", s.vectors);
  if (s.max_peers == 0 || s.max_peers > ivshmem::kMaxPeerId)
    return Error::format("x-max-peers={} is invalid: a device accepts 1 to {} other peers", s.max_peers,
                         ivshmem::kMaxPeerId);
  if (s.size && !is_power_of_2(s.size))
    return Error::format("size {} ({}) is not a power of two: a PCI BAR must be", s.size, format_size(s.size));

  auto link = std::make_unique<IvshmemServerLink>(*this, *s.chardev, s.vectors, s.max_peers);
  NN_TRY(link->handshake(std::chrono::milliseconds(s.setup_timeout_ms)));
  if (master_ == OnOffAuto::On && link->own_id() != 0)
    return Error("master must connect to the server before any peers");
  if (master_ == OnOffAuto::Auto) master_ = link->own_id() == 0 ? OnOffAuto::On : OnOffAuto::Off;

  shared_fd_ = link->take_shared_memory();
  struct stat st{};
  if (::fstat(shared_fd_.get(), &st) < 0)
    return Error::format("can't determine size of shared memory sent by server: {}", std::strerror(errno));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (s.size && s.size_is_minimum && size >= s.size) size = s.size;
  if (s.size && s.size_is_minimum && size < s.size)
    return Error::format("server sent only {} bytes of shared memory", size);
  if (s.size && size != s.size)
    return Error::format("server sent {} bytes of shared memory ({}), but size={} ({}) was asked for", size,
                         format_size(size), s.size, format_size(s.size));
  if (size == 0) return Error("server sent an empty shared memory object");
  void* host = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, shared_fd_.get(), 0);
  if (host == MAP_FAILED) return Error::format("can't map shared memory sent by server: {}", std::strerror(errno));
  shared_host_ = static_cast<uint8_t*>(host);
  shared_size_ = size;

  Status st_core = realize_core(Config{.device_id = device_id, .revision = revision, .intx = !s.msi,
                                       .vectors = s.msi ? s.vectors : 0});
  if (st_core) st_core = map_shared_memory(shared_host_, size, shared_fd_.get(), "shared memory sent by server");
  if (!st_core) {
    unrealize_core();
    release_memory();
    return st_core;
  }
  set_server_link(std::move(link));
  enable_fast_paths(s.ioeventfd);
  if (Status st_attach = server_link()->attach(); !st_attach) {
    unrealize_core();
    release_memory();
    return st_attach;
  }
  return {};
}

Status IvshmemDoorbell::do_realize() {
  DoorbellSettings s{.chardev = chardev_.empty() ? nullptr : find_chardev(chardev_),
                     .chardev_id = chardev_,
                     .size = size_,
                     .vectors = vectors_,
                     .msi = msi_,
                     .ioeventfd = ioeventfd_,
                     .setup_timeout_ms = setup_timeout_ms_,
                     .max_peers = max_peers_};
  if (!chardev_.empty() && !s.chardev)
    return Error::format("Property 'ivshmem-doorbell.chardev' can't find value '{}'", chardev_);
  if (s.chardev && s.chardev->attached()) return Error::format("Chardev '{}' is busy", chardev_);
  return realize_doorbell(s, legacy_id_ ? ivshmem::kDeviceIdPlain : ivshmem::kDeviceIdDoorbell,
                          ivshmem::kRevisionSplit);
}

void IvshmemDoorbell::release_memory() {
  if (shared_host_) ::munmap(shared_host_, shared_size_);
  shared_host_ = nullptr;
  shared_size_ = 0;
  shared_fd_.reset();
}

void IvshmemDoorbell::do_unrealize() {
  unrealize_core();  // drops the server link: watches, eventfds, chardev frontend
  release_memory();
}

namespace {

std::vector<PropertyInfo> doorbell_properties() {
  using D = IvshmemDoorbell;
  std::vector<PropertyInfo> props = ivshmem_common_properties(true);
  props.push_back(string_property<D>("chardev", &D::chardev_, "ID of a chardev to use as a backend"));
  props.push_back(size_property<D>("size", &D::size_, "expected shared memory size; 0 accepts the server's", 0));
  props.push_back(uint_property<D, uint32_t>("vectors", &D::vectors_, "MSI-X vectors (1..2048)", 1u));
  props.push_back(bool_property<D>("ioeventfd", &D::ioeventfd_, "on/off", true));
  props.push_back(bool_property<D>("msi", &D::msi_, "on/off: MSI-X vectors, or one INTx line with msi=off", true));
  props.push_back(bool_property<D>("legacy-id", &D::legacy_id_, "on/off: present device ID 1110 for old guest drivers", false));
  props.push_back(uint_property<D, uint32_t>("x-setup-timeout", &D::setup_timeout_ms_,
                                             "milliseconds to wait for the server's setup messages", 5000u));
  props.push_back(uint_property<D, uint32_t>("x-max-peers", &D::max_peers_,
                                             "other peers the device accepts from the server (1..65535)",
                                             IvshmemServerLink::kDefaultMaxPeers));
  return props;
}

const TypeRegistration kDoorbell{TypeInfo{.name = "ivshmem-doorbell",
                                          .parent = std::string(kIvshmemCommonType),
                                          .description = "Inter-VM shared memory with a doorbell",
                                          .factory = make_factory<IvshmemDoorbell>(),
                                          .properties = doorbell_properties(),
                                          .category = "Misc devices",
                                          .bus_type = "PCI"}};

}  // namespace
}  // namespace nahanni
