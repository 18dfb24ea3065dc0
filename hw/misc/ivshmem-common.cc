#include "hw/misc/ivshmem-common.h"

#include <nlohmann/json.hpp>

#include "hw/misc/ivshmem-fast-paths.h"
#include "hw/misc/ivshmem-server-link.h"
#include "qom/property.h"
#include "qom/type.h"
#include "util/size.h"

namespace nahanni {

using namespace ivshmem;

IvshmemCommon::IvshmemCommon() = default;
IvshmemCommon::~IvshmemCommon() = default;

void IvshmemCommon::set_server_link(std::unique_ptr<IvshmemServerLink> link) { link_ = std::move(link); }

void IvshmemCommon::enable_fast_paths(bool ioeventfd) {
  if (!link_ || !registers_) return;
  fast_paths_ = std::make_unique<IvshmemFastPaths>(*registers_, kDoorbell, msix_.get(), *link_, ioeventfd);
  if (msix_) msix_->set_vector_changed([this](unsigned vector) { fast_paths_->sync_vector(vector); });
  fast_paths_->sync_all();
}

void IvshmemCommon::server_doorbell_added(uint32_t peer, unsigned vector, int fd) {
  if (fast_paths_) fast_paths_->doorbell_added(peer, vector, fd);
}

void IvshmemCommon::server_own_vector_added(unsigned vector) {
  if (fast_paths_) fast_paths_->sync_vector(vector);
}

void IvshmemCommon::server_peer_leaving(uint32_t peer) {
  if (fast_paths_) fast_paths_->release_peer(peer);
}

void IvshmemCommon::server_link_resetting() {
  if (fast_paths_) fast_paths_->release_all();
}

Status IvshmemCommon::realize_core(const Config& config) {
  config_ = config;
  NN_TRY(pci_realize());
  PciIdentity id{.vendor = pci::kVendorRedHatQumranet,
                 .device = config.device_id,
                 .revision = config.revision,
                 .class_code = kClassMemoryRam,
                 // The legacy ABI always declares INTA, also when its interrupts are MSI-X.
                 .interrupt_pin = static_cast<uint8_t>(config.intx || config.revision == kRevisionLegacy ? 1 : 0)};
  set_identity(id);
  registers_ = MemoryRegion::io(
      "ivshmem-mmio", kRegisterBarSize,
      MemoryRegionOps{.read = [this](uint64_t off, unsigned) -> uint64_t { return read_register(static_cast<uint32_t>(off)); },
                      .write = [this](uint64_t off, uint64_t v, unsigned) {
                        write_register(static_cast<uint32_t>(off), static_cast<uint32_t>(v));
                      },
                      .min_access = 4,
                      .max_access = 4});
  register_bar(kRegisterBar, 0, registers_.get());
  if (config.vectors > 0) {
    msix_ = std::make_unique<Msix>(*this, config.vectors, kMsixBar);
    register_bar(kMsixBar, 0, msix_->bar_region());
  }
  return {};
}

Status IvshmemCommon::map_shared_memory(uint8_t* host, uint64_t size, int fd, const std::string& what) {
  if (!is_power_of_2(size))
    return Error::format("{} size {} ({}) is not a power of two: a PCI BAR must be", what, size, format_size(size));
  if (!use64_ && size > (uint64_t{1} << 31))
    return Error::format("{} size {} does not fit a 32-bit BAR: use use64=on", what, format_size(size));
  memory_size_ = size;
  shared_memory_ = MemoryRegion::ram("ivshmem.bar2", size, host, fd);
  uint32_t type = pci::kBarMemPrefetch | (use64_ ? pci::kBarMemType64 : 0);
  register_bar(kMemoryBar, type, shared_memory_.get());
  return {};
}

void IvshmemCommon::unrealize_core() {
  if (msix_) msix_->set_vector_changed(nullptr);
  fast_paths_.reset();  // unbinds while the eventfds are still open
  pci_unrealize();
  link_.reset();
  msix_.reset();
  shared_memory_.reset();
  registers_.reset();
}

uint32_t IvshmemCommon::features() const {
  uint32_t f = 0;
  if (link_) f |= kFeatureDoorbell | kFeaturePolling;
  if (config_.intx) f |= kFeatureIntx;
  if (!name_.empty()) f |= kFeatureName;
  return f;
}

uint32_t IvshmemCommon::read_register(uint32_t offset) {
  offset &= 0xfc;
  bool extended = config_.revision >= kRevisionSplit;
  switch (offset) {
    case kIntrMask: return intr_mask_;
    case kIntrStatus: {
      uint32_t v = intr_status_;
      intr_status_ = 0;  // reading acknowledges
      update_intx();
      return v;
    }
    case kIvPosition: return link_ ? link_->own_id() : 0;
    case kDoorbell: return 0;
  }
  if (!extended) return 0;
  switch (offset) {
    case kFeatures: return features();
    case kState: {
      uint32_t s = 0;
      if (!link_ || link_->setup_complete()) s |= kStateSetupComplete;
      if (link_ && link_->server_connected()) s |= kStateServerConnected;
      return s;
    }
    case kPeerSelect: return peer_select_;
    case kPeerVectors: return link_ ? link_->peer_vectors(peer_select_) : 0;
    case kRungVectors: {
      uint32_t v = rung_vectors_;
      rung_vectors_ = 0;
      return v;
    }
    case kOwnVectors: return link_ ? link_->own_vectors() : 0;
    case kPeerCount: return link_ ? link_->peer_count() : 0;
    case kNameLength: return static_cast<uint32_t>(name_.size());
  }
  if (offset >= kName && offset < kName + kNameMax) {
    uint32_t v = 0;
    for (uint32_t i = 0; i < 4; ++i) {
      uint32_t idx = offset - kName + i;
      if (idx < name_.size()) v |= static_cast<uint32_t>(static_cast<uint8_t>(name_[idx])) << (8 * i);
    }
    return v;
  }
  return 0;
}

void IvshmemCommon::write_register(uint32_t offset, uint32_t value) {
  switch (offset & 0xfc) {
    case kIntrMask:
      intr_mask_ = value;
      update_intx();
      return;
    case kIntrStatus:
      intr_status_ = value;
      update_intx();
      return;
    case kDoorbell:
      if (link_) link_->ring(value >> 16, value & 0xffff);
      return;
    case kPeerSelect:
      if (config_.revision >= kRevisionSplit) peer_select_ = value & 0xffff;
      return;
    default: return;  // read-only and reserved registers ignore writes
  }
}

void IvshmemCommon::vector_rung(unsigned vector) {
  if (vector < 32) rung_vectors_ |= 1u << vector;
  if (config_.intx) {
    intr_status_ |= 1;
    update_intx();
    return;
  }
  // MSI-X disabled: the event is consumed and dropped; the polling register still shows it.
  if (msix_ && msix_->enabled()) msix_->notify(vector);
}

void IvshmemCommon::update_intx() {
  if (config_.intx) set_intx((intr_status_ & intr_mask_) != 0 ? 1 : 0);
}

void IvshmemCommon::config_written(uint32_t offset, uint32_t value, unsigned len) {
  (void)value;
  if (msix_) msix_->config_written(offset, len);
}

void IvshmemCommon::reset() {
  PciDevice::reset();
  intr_mask_ = 0;
  intr_status_ = 0;
  peer_select_ = 0;
  rung_vectors_ = 0;
  if (msix_) msix_->reset();
  if (fast_paths_) fast_paths_->sync_all();  // every vector is masked again
  update_intx();
}

std::vector<PropertyInfo> ivshmem_common_properties(bool split_device) {
  using C = IvshmemCommon;
  std::vector<PropertyInfo> props = {
      PropertyInfo{.name = "status",
                   .type = "any",
                   .description = "peers, vectors and doorbell counters (read-only)",
                   .get = [](const Object& o, nlohmann::json& out) {
                     auto& dev = static_cast<const C&>(o);
                     auto* link = const_cast<C&>(dev).server_link();
                     if (link) {
                       link->status(out);
                       if (dev.fast_paths_) dev.fast_paths_->status(out);
                     } else {
                       out = nlohmann::json::object({{"doorbell", false}});
                     }
                     out["memory-size"] = dev.memory_size();
                   },
                   .read_only = true},
  };
  if (split_device) {
    props.push_back(on_off_auto_property<C>("master", &C::master_, "on/off/auto", OnOffAuto::Off));
    props.push_back(bool_property<C>("use64", &C::use64_, "on/off: 64-bit prefetchable BAR2", true));
    PropertyInfo name = string_property<C>("name", &C::name_, "name the guest reads from BAR0 (at most 63 characters)");
    auto inner = name.set;
    name.set = [inner](Object& o, std::string_view n, const OptionValue& v) -> Status {
      NN_ASSIGN_OR_RETURN(std::string text, parse_string_value(n, v));
      if (text.size() >= kNameMax) return Error::format("Parameter 'name' is longer than {} characters", kNameMax - 1);
      for (char c : text)
        if (c < 0x20 || c > 0x7e) return Error("Parameter 'name' must be printable ASCII");
      return inner(o, n, v);
    };
    props.push_back(std::move(name));
  }
  return props;
}

namespace {
const TypeRegistration kCommon{TypeInfo{.name = std::string(kIvshmemCommonType),
                                        .parent = std::string(kPciDeviceType),
                                        .abstract = true,
                                        .properties = ivshmem_common_properties(false),
                                        .category = "Misc devices",
                                        .bus_type = "PCI"}};
}  // namespace

}  // namespace nahanni
