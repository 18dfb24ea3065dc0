#include "tools/domxml/domain-xml.h"

#include <fmt/format.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <utility>

namespace nahanni::domxml {
namespace {

struct XmlDocFree {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};
using XmlDocument = std::unique_ptr<xmlDoc, XmlDocFree>;

struct XmlStringFree {
  void operator()(xmlChar* s) const { xmlFree(s); }
};
using XmlString = std::unique_ptr<xmlChar, XmlStringFree>;

std::string_view element_name(const xmlNode* node) { return reinterpret_cast<const char*>(node->name); }

bool is_element(const xmlNode* node, std::string_view name) {
  return node->type == XML_ELEMENT_NODE && element_name(node) == name;
}

// An attribute's value; nullopt when absent (an empty value is still a value).
std::optional<std::string> attribute(xmlNode* node, const char* name) {
  XmlString value(xmlGetProp(node, reinterpret_cast<const xmlChar*>(name)));
  if (!value) return std::nullopt;
  return std::string(reinterpret_cast<const char*>(value.get()));
}

std::string text_content(xmlNode* node) {
  XmlString value(xmlNodeGetContent(node));
  return value ? std::string(reinterpret_cast<const char*>(value.get())) : std::string();
}

xmlNode* first_child(xmlNode* parent, std::string_view name) {
  if (!parent) return nullptr;
  for (xmlNode* child = parent->children; child; child = child->next)
    if (is_element(child, name)) return child;
  return nullptr;
}

Error xml_error(std::string message) { return Error("XML error: " + message); }

Error missing_attribute(std::string_view attr, std::string_view element) {
  return xml_error(fmt::format("Missing required attribute '{}' in element '{}'", attr, element));
}

Error invalid_enum_attribute(std::string_view attr, std::string_view element, std::string_view value) {
  return xml_error(fmt::format("Invalid value for attribute '{}' in element '{}': '{}'.", attr, element, value));
}

Error invalid_uint_attribute(std::string_view attr, std::string_view element, std::string_view value) {
  return xml_error(fmt::format(
      "Invalid value for attribute '{}' in element '{}': '{}'. Expected non-negative integer value", attr,
      element, value));
}

// libvirt's unsigned parsing: strtoul with the given base, no sign, nothing left over, and the
// value must fit the target type.
std::optional<unsigned long long> parse_unsigned(const std::string& text, int base, unsigned long long max) {
  size_t first = text.find_first_not_of(" \t\n\v\f\r");
  if (first == std::string::npos || text[first] == '-' || text[first] == '+') return std::nullopt;
  errno = 0;
  char* end = nullptr;
  unsigned long long value = std::strtoull(text.c_str() + first, &end, base);
  if (errno != 0 || end == text.c_str() + first || *end != '\0' || value > max) return std::nullopt;
  return value;
}

// An unsigned int attribute read as libvirt's virXMLPropUInt does; nullopt when absent.
Result<std::optional<unsigned>> uint_attribute(xmlNode* node, const char* attr, int base) {
  auto text = attribute(node, attr);
  if (!text) return std::optional<unsigned>();
  auto value = parse_unsigned(*text, base, UINT_MAX);
  if (!value) return invalid_uint_attribute(attr, element_name(node), *text);
  return std::optional<unsigned>(static_cast<unsigned>(*value));
}

// on/off, as libvirt's tristate switch attributes; nullopt when absent.
Result<std::optional<bool>> switch_attribute(xmlNode* node, const char* attr) {
  auto text = attribute(node, attr);
  if (!text) return std::optional<bool>();
  if (*text == "on") return std::optional<bool>(true);
  if (*text == "off") return std::optional<bool>(false);
  return invalid_enum_attribute(attr, element_name(node), *text);
}

// libvirt's scaled integers: no unit means `scale`; b/byte/bytes; k/M/G/T/P/E alone or with
// "iB" are powers of 1024, with "B" powers of 1000; the letter in either case.
Result<uint64_t> scale_size(uint64_t value, const std::optional<std::string>& unit) {
  uint64_t scale = 1;
  std::string suffix = unit.value_or("");
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  std::string low = lower(suffix);
  if (suffix.empty() || low == "b" || low == "byte" || low == "bytes") {
    scale = 1;
  } else {
    uint64_t base = 0;
    if (suffix.size() == 1 || low.substr(1) == "ib") {
      base = 1024;
    } else if (low.size() == 2 && low[1] == 'b') {
      base = 1000;
    } else {
      return Error(fmt::format("invalid argument: unknown suffix '{}'", suffix));
    }
    static constexpr std::string_view kPowers = "kmgtpe";
    size_t power = kPowers.find(low[0]);
    if (power == std::string_view::npos) return Error(fmt::format("invalid argument: unknown suffix '{}'", suffix));
    for (size_t i = 0; i <= power; ++i) scale *= base;
  }
  if (value != 0 && value > UINT64_MAX / scale)
    return Error(fmt::format("numerical overflow: value too large: {}{}", value, suffix));
  return value * scale;
}

// virFileSanitizePath: runs of '/' become one (a leading "//" stays, as POSIX allows), and a
// trailing '/' goes.
std::string sanitize_path(const std::string& path) {
  std::string out;
  size_t i = 0;
  if (path.size() >= 2 && path[0] == '/' && path[1] == '/' && (path.size() == 2 || path[2] != '/')) {
    out = "//";
    i = 2;
  }
  for (; i < path.size(); ++i) {
    if (path[i] == '/' && !out.empty() && out.back() == '/') continue;
    out += path[i];
  }
  if (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

Result<ShmemModel> parse_model(xmlNode* shmem) {
  xmlNode* model = first_child(shmem, "model");
  if (!model) return ShmemModel::Ivshmem;
  auto type = attribute(model, "type");
  if (!type) return ShmemModel::Ivshmem;
  if (*type == "ivshmem") return ShmemModel::Ivshmem;
  if (*type == "ivshmem-plain") return ShmemModel::IvshmemPlain;
  if (*type == "ivshmem-doorbell") return ShmemModel::IvshmemDoorbell;
  return invalid_enum_attribute("type", "model", *type);
}

Status parse_size(xmlNode* shmem, ShmemDef& def) {
  xmlNode* size = first_child(shmem, "size");
  if (!size) return {};
  std::string text = text_content(size);
  if (text.empty()) return {};  // libvirt reads an empty <size/> as no size at all
  auto value = parse_unsigned(text, 10, UINT64_MAX);
  if (!value) return xml_error(fmt::format("Invalid value '{}' for element or attribute './size[1]'", text));
  NN_ASSIGN_OR_RETURN(def.size, scale_size(*value, attribute(size, "unit")));
  return {};
}

Status parse_msi(xmlNode* shmem, ShmemDef& def) {
  xmlNode* msi = first_child(shmem, "msi");
  if (!msi) return {};
  ShmemMsi parsed;
  NN_ASSIGN_OR_RETURN(auto vectors, uint_attribute(msi, "vectors", 0));
  parsed.vectors = vectors.value_or(0);
  NN_ASSIGN_OR_RETURN(parsed.ioeventfd, switch_attribute(msi, "ioeventfd"));
  def.msi = parsed;
  return {};
}

constexpr std::array<std::string_view, 13> kAddressTypes = {
    "none", "pci", "drive", "virtio-serial", "ccid", "usb", "spapr-vio", "virtio-s390", "ccw",
    "virtio-mmio", "isa", "dimm", "unassigned"};

// virPCIDeviceAddressParseXML: an all-zero domain:bus:slot means "assign one for me".
Result<std::optional<PciAddress>> parse_pci_address(xmlNode* address) {
  PciAddress addr;
  NN_ASSIGN_OR_RETURN(auto domain, uint_attribute(address, "domain", 0));
  NN_ASSIGN_OR_RETURN(auto bus, uint_attribute(address, "bus", 0));
  NN_ASSIGN_OR_RETURN(auto slot, uint_attribute(address, "slot", 0));
  NN_ASSIGN_OR_RETURN(auto function, uint_attribute(address, "function", 0));
  NN_ASSIGN_OR_RETURN(addr.multifunction, switch_attribute(address, "multifunction"));
  addr.domain = domain.value_or(0);
  addr.bus = bus.value_or(0);
  addr.slot = slot.value_or(0);
  addr.function = function.value_or(0);
  if (addr.domain == 0 && addr.bus == 0 && addr.slot == 0) return std::optional<PciAddress>();
  if (addr.bus > 0xFF) return xml_error(fmt::format("Invalid PCI address bus='0x{:x}', must be <= 0xFF", addr.bus));
  if (addr.slot > 0x1F)
    return xml_error(fmt::format("Invalid PCI address slot='0x{:x}', must be <= 0x1F", addr.slot));
  if (addr.function > 7)
    return xml_error(fmt::format("Invalid PCI address function=0x{:x}, must be <= 7", addr.function));
  return std::optional<PciAddress>(addr);
}

Status parse_device_info(xmlNode* shmem, ShmemDef& def) {
  if (xmlNode* alias = first_child(shmem, "alias")) {
    auto name = attribute(alias, "name");
    if (!name) return missing_attribute("name", "alias");
    def.alias = *name;
  }
  xmlNode* address = first_child(shmem, "address");
  if (!address) return {};
  auto type = attribute(address, "type");
  if (!type) return missing_attribute("type", "address");
  if (std::find(kAddressTypes.begin(), kAddressTypes.end(), *type) == kAddressTypes.end())
    return invalid_enum_attribute("type", "address", *type);
  if (*type == "none") return {};
  if (*type != "pci") {
    def.other_address_type = *type;
    return {};
  }
  NN_ASSIGN_OR_RETURN(def.address, parse_pci_address(address));
  return {};
}

// Mirrors the order of libvirt's virDomainShmemDefParseXML, so the first error is the same.
Result<ShmemDef> parse_shmem(xmlNode* node) {
  ShmemDef def;
  NN_ASSIGN_OR_RETURN(def.model, parse_model(node));
  auto name = attribute(node, "name");
  if (!name) return xml_error("shmem element must contain 'name' attribute");
  def.name = *name;

  // libvirt reads role only for the new models; nahanni's legacy shim takes role=master|peer,
  // so we read it for all three.
  if (auto role = attribute(node, "role")) {
    if (*role == "master")
      def.role = ShmemRole::Master;
    else if (*role == "peer")
      def.role = ShmemRole::Peer;
    else
      return invalid_enum_attribute("role", "shmem", *role);
  }

  NN_TRY(parse_size(node, def));

  if (xmlNode* server = first_child(node, "server")) {
    ShmemServer parsed;
    auto path = attribute(server, "path");
    if (path && !path->empty()) parsed.path = sanitize_path(*path);
    def.server = parsed;
  }

  NN_TRY(parse_msi(node, def));
  if (def.msi && !def.server) return xml_error("msi option is only supported with a server");

  NN_TRY(parse_device_info(node, def));
  return def;
}

MachineFamily machine_family(xmlNode* domain) {
  xmlNode* type = first_child(first_child(domain, "os"), "type");
  if (!type) return MachineFamily::I440fx;
  auto machine = attribute(type, "machine");
  return machine && machine->find("q35") != std::string::npos ? MachineFamily::Q35 : MachineFamily::I440fx;
}

// Slots other devices hold on bus 0 by explicit address, and whether a primary video card
// still waits for libvirt to place it (it gets 0:0:2.0 on i440fx).
void scan_other_devices(xmlNode* devices, DomainShmems& out) {
  bool first_video = true;
  for (xmlNode* dev = devices->children; dev; dev = dev->next) {
    if (dev->type != XML_ELEMENT_NODE || is_element(dev, "shmem")) continue;
    xmlNode* address = first_child(dev, "address");
    if (is_element(dev, "video") && first_video) {
      first_video = false;
      xmlNode* model = first_child(dev, "model");
      auto type = model ? attribute(model, "type") : std::nullopt;
      if (!address && type.value_or("") != "none") out.video_wants_slot_2 = true;
    }
    if (!address || attribute(address, "type").value_or("") != "pci") continue;
    auto domain = parse_unsigned(attribute(address, "domain").value_or("0"), 0, UINT_MAX);
    auto bus = parse_unsigned(attribute(address, "bus").value_or("0"), 0, UINT_MAX);
    auto slot = parse_unsigned(attribute(address, "slot").value_or("0"), 0, 0x1F);
    if (domain == 0ULL && bus == 0ULL && slot && *slot != 0) out.reserved_slots.push_back(static_cast<unsigned>(*slot));
  }
}

Result<DomainShmems> read_devices(xmlNode* devices, DomainShmems out) {
  if (!devices) return out;
  scan_other_devices(devices, out);
  for (xmlNode* child = devices->children; child; child = child->next) {
    if (!is_element(child, "shmem")) continue;
    NN_ASSIGN_OR_RETURN(ShmemDef def, parse_shmem(child));
    out.shmems.push_back(std::move(def));
  }
  return out;
}

std::string trim_newline(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// libxml2 reports every error it meets; libvirt keeps the first (later ones are usually
// consequences). This collects it while the guard lives, and restores libxml2's default.
class FirstXmlError {
 public:
  FirstXmlError() { xmlSetStructuredErrorFunc(this, &FirstXmlError::record); }
  ~FirstXmlError() { xmlSetStructuredErrorFunc(nullptr, nullptr); }
  FirstXmlError(const FirstXmlError&) = delete;
  FirstXmlError& operator=(const FirstXmlError&) = delete;

  const std::optional<std::pair<int, std::string>>& first() const { return first_; }

 private:
  static void record(void* self, xmlErrorPtr err) {
    auto* me = static_cast<FirstXmlError*>(self);
    if (!err || err->level == XML_ERR_WARNING || me->first_) return;
    me->first_.emplace(err->line, trim_newline(err->message ? err->message : "unknown error"));
  }

  std::optional<std::pair<int, std::string>> first_;
};

}  // namespace

Result<DomainShmems> parse_domain_xml(std::string_view text, std::string_view source_name) {
  // libxml2 refuses an empty buffer before it starts parsing, so it has nothing to report.
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos)
    return Error(fmt::format("{}:1: Document is empty", source_name));
  FirstXmlError errors;
  XmlDocument doc(xmlReadMemory(text.data(), static_cast<int>(text.size()), nullptr, nullptr, XML_PARSE_NONET));
  if (!doc || errors.first()) {
    if (!errors.first()) return Error(fmt::format("{}: failed to parse XML document", source_name));
    return Error(fmt::format("{}:{}: {}", source_name, errors.first()->first, errors.first()->second));
  }
  xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) return Error(fmt::format("{}: failed to parse XML document", source_name));

  DomainShmems out;
  if (is_element(root, "domain")) {
    out.machine = machine_family(root);
    return read_devices(first_child(root, "devices"), std::move(out));
  }
  if (is_element(root, "devices")) return read_devices(root, std::move(out));
  if (is_element(root, "shmem")) {
    NN_ASSIGN_OR_RETURN(ShmemDef def, parse_shmem(root));
    out.shmems.push_back(std::move(def));
    return out;
  }
  return xml_error(fmt::format("unexpected root element <{}>, expecting <domain>", element_name(root)));
}

}  // namespace nahanni::domxml
