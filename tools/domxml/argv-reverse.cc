#include "tools/domxml/argv-reverse.h"

#include <fmt/format.h>

#include <cctype>
#include <map>

#include "tools/domxml/shmem-prepare.h"
#include "util/keyval.h"
#include "util/option-value.h"

namespace nahanni::domxml {
namespace {

// One option of the command line with its argument, parsed.
struct OptionArg {
  std::string option;  // "-object", "-device", "-chardev"
  std::string text;    // the argument as given, for messages
  OptionList props;
};

Error cannot_map(const OptionArg& arg, std::string_view reason) {
  return Error(fmt::format("{} {}: cannot map to <shmem>: {}", arg.option, arg.text, reason));
}

// Errors from the typed value parsers already name the property; they only lack the location.
template <typename T>
Result<T> in_context(const OptionArg& arg, Result<T> result) {
  if (!result) return cannot_map(arg, result.error().message());
  return result;
}

Status no_leftovers(const OptionArg& arg, const OptionList& props, std::string_view owner) {
  if (props.items.empty()) return {};
  return cannot_map(arg, fmt::format("{} property '{}' has no <shmem> equivalent", owner, props.items.front().first));
}

std::optional<unsigned> parse_hex(std::string_view s, unsigned max) {
  if (s.starts_with("0x") || s.starts_with("0X")) s.remove_prefix(2);
  if (s.empty() || s.size() > 8) return std::nullopt;
  unsigned value = 0;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10);
  }
  if (value > max) return std::nullopt;
  return value;
}

class Reverser {
 public:
  Status collect(const std::vector<std::string>& words);
  Result<ReverseResult> map_all();

 private:
  Status take_pci_address(OptionArg& arg, ShmemDef& def);
  Result<std::optional<std::string>> take_string(OptionArg& arg, std::string_view key);
  Status map_backend(const OptionArg& device, const std::string& memdev, ShmemDef& def);
  Status map_server(const OptionArg& device, const std::string& chardev, ShmemDef& def);
  Result<ShmemDef> map_plain(OptionArg arg);
  Result<ShmemDef> map_doorbell(OptionArg arg);
  Result<ShmemDef> map_legacy(OptionArg arg);

  std::map<std::string, OptionArg> objects_;
  std::map<std::string, OptionArg> chardevs_;
  std::vector<OptionArg> devices_;
  ReverseResult result_;
};

Status Reverser::collect(const std::vector<std::string>& words) {
  for (size_t i = 0; i < words.size(); ++i) {
    std::string option = words[i];
    if (option.starts_with("--")) option.erase(0, 1);
    if (option != "-object" && option != "-device" && option != "-chardev") continue;
    if (i + 1 >= words.size()) return Error(fmt::format("{}: requires an argument", option));
    OptionArg arg{option, words[++i], {}};
    std::string_view implied = option == "-object" ? "qom-type" : option == "-device" ? "driver" : "backend";
    // -chardev has no JSON form in QEMU; the other two take both.
    auto parsed = option == "-chardev" ? parse_keyval(arg.text, implied) : parse_option_argument(arg.text, implied);
    if (!parsed) return Error(fmt::format("{} {}: {}", option, arg.text, parsed.error().message()));
    arg.props = std::move(parsed).value();
    if (option == "-device") {
      auto driver = arg.props.find_text("driver");
      if (driver == "ivshmem-plain" || driver == "ivshmem-doorbell" || driver == "ivshmem") devices_.push_back(std::move(arg));
      continue;
    }
    // Backends matter only when a shmem device refers to them by id.
    if (auto id = arg.props.find_text("id")) (option == "-object" ? objects_ : chardevs_)[*id] = std::move(arg);
  }
  return {};
}

Result<std::optional<std::string>> Reverser::take_string(OptionArg& arg, std::string_view key) {
  auto value = arg.props.take(key);
  if (!value) return std::optional<std::string>();
  NN_ASSIGN_OR_RETURN(std::string text, in_context(arg, parse_string_value(key, *value)));
  return std::optional<std::string>(std::move(text));
}

Status Reverser::take_pci_address(OptionArg& arg, ShmemDef& def) {
  NN_ASSIGN_OR_RETURN(auto bus, take_string(arg, "bus"));
  NN_ASSIGN_OR_RETURN(auto addr, take_string(arg, "addr"));
  auto multifunction = arg.props.take("multifunction");
  if (!addr) {
    if (bus || multifunction)
      return cannot_map(arg, "a bus or multifunction without addr has no <address> equivalent");
    return {};
  }
  PciAddress address;
  size_t dot = addr->find('.');
  auto slot = parse_hex(std::string_view(*addr).substr(0, dot), 0x1F);
  auto function = dot == std::string::npos ? std::optional<unsigned>(0) : parse_hex(std::string_view(*addr).substr(dot + 1), 7);
  if (!slot || !function) return cannot_map(arg, fmt::format("addr '{}' is not SLOT[.FUNCTION] in hex", *addr));
  address.slot = *slot;
  address.function = *function;
  if (bus) {
    if (*bus == "pcie.0") {
      result_.domain.machine = MachineFamily::Q35;
    } else if (bus->starts_with("pci.") && bus->size() > 4 &&
               bus->find_first_not_of("0123456789", 4) == std::string::npos && bus->size() <= 7) {
      address.bus = static_cast<unsigned>(std::stoul(bus->substr(4)));
      if (address.bus > 0xFF) return cannot_map(arg, fmt::format("bus '{}' is beyond PCI bus 255", *bus));
    } else {
      return cannot_map(arg, fmt::format("bus '{}' is not a bus name libvirt writes (pci.N or pcie.0)", *bus));
    }
  }
  if (multifunction) {
    NN_ASSIGN_OR_RETURN(bool on, in_context(arg, parse_bool_value("multifunction", *multifunction)));
    address.multifunction = on;
  }
  def.address = address;
  return {};
}

Status Reverser::map_backend(const OptionArg& device, const std::string& memdev, ShmemDef& def) {
  auto it = objects_.find(memdev);
  if (it == objects_.end()) return cannot_map(device, fmt::format("memdev '{}' is not defined by any -object", memdev));
  OptionArg obj = it->second;
  NN_ASSIGN_OR_RETURN(auto type, take_string(obj, "qom-type"));
  if (type != "memory-backend-file")
    return cannot_map(obj, fmt::format("libvirt backs <shmem> only with memory-backend-file, not {}", type.value_or("?")));
  obj.props.take("id");
  NN_ASSIGN_OR_RETURN(auto path, take_string(obj, "mem-path"));
  const std::string_view prefix = "/dev/shm/";
  if (!path || !path->starts_with(prefix) || path->size() == prefix.size() ||
      path->find('/', prefix.size()) != std::string::npos)
    return cannot_map(obj, "<shmem> names a file directly in /dev/shm: mem-path must be /dev/shm/NAME");
  def.name = path->substr(prefix.size());
  auto size = obj.props.take("size");
  if (!size) return cannot_map(obj, "the backend has no size");
  NN_ASSIGN_OR_RETURN(def.size, in_context(obj, parse_size_value("size", *size)));
  auto share = obj.props.take("share");
  bool shared = false;
  if (share) {
    NN_ASSIGN_OR_RETURN(shared, in_context(obj, parse_bool_value("share", *share)));
  }
  if (!shared) return cannot_map(obj, "<shmem> memory is always shared: the backend needs share=on");
  return no_leftovers(obj, obj.props, "memory-backend-file");
}

Status Reverser::map_server(const OptionArg& device, const std::string& chardev, ShmemDef& def) {
  auto it = chardevs_.find(chardev);
  if (it == chardevs_.end()) return cannot_map(device, fmt::format("chardev '{}' is not defined by any -chardev", chardev));
  OptionArg chr = it->second;
  NN_ASSIGN_OR_RETURN(auto backend, take_string(chr, "backend"));
  if (backend != "socket") return cannot_map(chr, "<server> is a unix socket chardev");
  chr.props.take("id");
  NN_ASSIGN_OR_RETURN(auto path, take_string(chr, "path"));
  if (!path) return cannot_map(chr, "<server path=.../> needs a unix socket path");
  if (auto server = chr.props.take("server")) {
    NN_ASSIGN_OR_RETURN(bool listens, in_context(chr, parse_bool_value("server", *server)));
    if (listens) return cannot_map(chr, "libvirt connects to an ivshmem-server; a listening chardev (server=on) has no <server> equivalent");
  }
  NN_TRY(no_leftovers(chr, chr.props, "chardev"));
  def.server = ShmemServer{.path = *path};

  // The doorbell command line does not carry the shmem name; only libvirt's default socket
  // path spells it out (if what sits in the name's place could be a name: a path such as
  // /var/lib/libvirt/shmem-a/b-sock is not a default one). Otherwise the device id stands in.
  const std::string_view head = "/var/lib/libvirt/shmem-", tail = "-sock";
  std::string_view middle;
  if (path->size() > head.size() + tail.size() && path->starts_with(head) && path->ends_with(tail))
    middle = std::string_view(*path).substr(head.size(), path->size() - head.size() - tail.size());
  if (validate_shmem_name(middle).ok()) {
    def.name = std::string(middle);
  } else if (def.alias) {
    def.name = *def.alias;
    result_.notes.push_back(fmt::format(
        "{} {}: the command line does not carry the shmem name of a device with an explicit server path; "
        "naming it after its id '{}'",
        device.option, device.text, *def.alias));
  } else {
    return cannot_map(device, "neither the socket path nor a device id gives the shmem a name");
  }
  return {};
}

Result<ShmemDef> Reverser::map_plain(OptionArg arg) {
  ShmemDef def;
  def.model = ShmemModel::IvshmemPlain;
  arg.props.take("driver");
  NN_ASSIGN_OR_RETURN(def.alias, take_string(arg, "id"));
  NN_ASSIGN_OR_RETURN(auto memdev, take_string(arg, "memdev"));
  if (!memdev) return cannot_map(arg, "ivshmem-plain without memdev");
  NN_TRY(map_backend(arg, *memdev, def));
  if (auto master = arg.props.take("master")) {
    NN_ASSIGN_OR_RETURN(OnOffAuto value, in_context(arg, parse_on_off_auto_value("master", *master)));
    if (value == OnOffAuto::Auto) return cannot_map(arg, "master=auto has no role equivalent (role is master or peer)");
    def.role = value == OnOffAuto::On ? ShmemRole::Master : ShmemRole::Peer;
  }
  NN_TRY(take_pci_address(arg, def));
  NN_TRY(no_leftovers(arg, arg.props, "ivshmem-plain"));
  return def;
}

Result<ShmemDef> Reverser::map_doorbell(OptionArg arg) {
  ShmemDef def;
  def.model = ShmemModel::IvshmemDoorbell;
  arg.props.take("driver");
  NN_ASSIGN_OR_RETURN(def.alias, take_string(arg, "id"));
  NN_ASSIGN_OR_RETURN(auto chardev, take_string(arg, "chardev"));
  if (!chardev) return cannot_map(arg, "ivshmem-doorbell without chardev");
  ShmemMsi msi;
  if (auto vectors = arg.props.take("vectors")) {
    NN_ASSIGN_OR_RETURN(uint64_t n, in_context(arg, parse_uint_value("vectors", *vectors, UINT32_MAX, "uint32")));
    msi.vectors = static_cast<unsigned>(n);
  }
  if (auto ioeventfd = arg.props.take("ioeventfd")) {
    NN_ASSIGN_OR_RETURN(bool on, in_context(arg, parse_bool_value("ioeventfd", *ioeventfd)));
    msi.ioeventfd = on;
  }
  def.msi = msi;
  if (arg.props.has("master"))
    return cannot_map(arg, "libvirt applies role (master) only to ivshmem-plain; it has no place on ivshmem-doorbell");
  NN_TRY(take_pci_address(arg, def));
  NN_TRY(no_leftovers(arg, arg.props, "ivshmem-doorbell"));
  NN_TRY(map_server(arg, *chardev, def));
  return def;
}

Result<ShmemDef> Reverser::map_legacy(OptionArg arg) {
  ShmemDef def;
  def.model = ShmemModel::Ivshmem;
  arg.props.take("driver");
  NN_ASSIGN_OR_RETURN(def.alias, take_string(arg, "id"));
  NN_ASSIGN_OR_RETURN(auto shm, take_string(arg, "shm"));
  NN_ASSIGN_OR_RETURN(auto chardev, take_string(arg, "chardev"));
  NN_ASSIGN_OR_RETURN(auto memdev, take_string(arg, "memdev"));
  if (auto size = arg.props.take("size")) {
    NN_ASSIGN_OR_RETURN(def.size, in_context(arg, parse_size_value("size", *size)));
  }
  if (auto role = arg.props.take("role")) {
    NN_ASSIGN_OR_RETURN(std::string text, in_context(arg, parse_string_value("role", *role)));
    if (text != "master" && text != "peer") return cannot_map(arg, fmt::format("role '{}' is neither master nor peer", text));
    def.role = text == "master" ? ShmemRole::Master : ShmemRole::Peer;
  }
  std::optional<bool> msi_on;
  if (auto msi = arg.props.take("msi")) {
    NN_ASSIGN_OR_RETURN(msi_on, in_context(arg, parse_bool_value("msi", *msi)));
  }
  ShmemMsi msi;
  if (auto vectors = arg.props.take("vectors")) {
    NN_ASSIGN_OR_RETURN(uint64_t n, in_context(arg, parse_uint_value("vectors", *vectors, UINT32_MAX, "uint32")));
    msi.vectors = static_cast<unsigned>(n);
  }
  if (auto ioeventfd = arg.props.take("ioeventfd")) {
    NN_ASSIGN_OR_RETURN(bool on, in_context(arg, parse_bool_value("ioeventfd", *ioeventfd)));
    msi.ioeventfd = on;
  }
  bool wants_msi = msi_on.value_or(false) || msi.vectors != 0 || msi.ioeventfd;
  NN_TRY(take_pci_address(arg, def));
  NN_TRY(no_leftovers(arg, arg.props, "ivshmem"));

  if (int sources = !!shm + !!chardev + !!memdev; sources != 1)
    return cannot_map(arg, "the legacy ivshmem needs exactly one of shm, chardev and memdev");
  if (memdev) {
    // The shim turns this into an ivshmem-plain; so does the XML.
    if (def.size != 0 || wants_msi || msi_on) return cannot_map(arg, "memdev takes no size, msi, vectors or ioeventfd");
    def.model = ShmemModel::IvshmemPlain;
    NN_TRY(map_backend(arg, *memdev, def));
    result_.notes.push_back(fmt::format("{} {}: mapped to model 'ivshmem-plain', which is what the shim creates for memdev",
                                        arg.option, arg.text));
    return def;
  }
  if (shm) {
    if (wants_msi || msi_on) return cannot_map(arg, "msi, vectors and ioeventfd need a server (chardev)");
    def.name = *shm;
    return def;
  }
  if (msi_on == false) return cannot_map(arg, "msi=off has no <shmem> equivalent (<msi> absent means the device default, on)");
  if (wants_msi) def.msi = msi;
  NN_TRY(map_server(arg, *chardev, def));
  return def;
}

Result<ReverseResult> Reverser::map_all() {
  for (const OptionArg& arg : devices_) {
    std::string driver = *arg.props.find_text("driver");
    Result<ShmemDef> def = driver == "ivshmem-plain"      ? map_plain(arg)
                           : driver == "ivshmem-doorbell" ? map_doorbell(arg)
                                                          : map_legacy(arg);
    if (!def) return std::move(def).error();
    result_.domain.shmems.push_back(std::move(def).value());
  }
  // What we print must be XML libvirt (and our forward direction) accepts.
  DomainShmems check = result_.domain;
  std::vector<std::string> ignored;
  if (Status st = prepare_shmems(check, ignored); !st)
    return Error("the command line describes a <shmem> libvirt would refuse: " + st.error().message());
  return std::move(result_);
}

}  // namespace

Result<ReverseResult> reverse_args(const std::vector<std::string>& words) {
  Reverser reverser;
  NN_TRY(reverser.collect(words));
  return reverser.map_all();
}

}  // namespace nahanni::domxml
