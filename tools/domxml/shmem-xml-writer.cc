#include "tools/domxml/shmem-xml-writer.h"

#include <fmt/format.h>

namespace nahanni::domxml {
namespace {

std::string escape_attribute(std::string_view value) {
  std::string out;
  for (char c : value) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      // A reader normalizes a literal tab, newline or carriage return in an attribute to a
      // space; as character references they survive (libvirt's writer escapes them so too).
      case '\t': out += "&#9;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

// Element order and spelling follow libvirt's virDomainShmemDefFormat, so our output diffs
// cleanly against `virsh dumpxml`.
std::string format_shmem_xml(const ShmemDef& def, int indent) {
  std::string pad(static_cast<size_t>(indent), ' ');
  std::string in = pad + "  ";
  std::string out = fmt::format("{}<shmem name='{}'", pad, escape_attribute(def.name));
  if (def.role) out += fmt::format(" role='{}'", to_string(*def.role));
  out += ">\n";
  out += fmt::format("{}<model type='{}'/>\n", in, to_string(def.model));
  if (def.size != 0) out += fmt::format("{}<size unit='M'>{}</size>\n", in, def.size >> 20);
  if (def.server) {
    out += in + "<server";
    if (def.server->path) out += fmt::format(" path='{}'", escape_attribute(*def.server->path));
    out += "/>\n";
  }
  if (def.msi) {
    out += in + "<msi";
    if (def.msi->vectors != 0) out += fmt::format(" vectors='{}'", def.msi->vectors);
    if (def.msi->ioeventfd) out += fmt::format(" ioeventfd='{}'", *def.msi->ioeventfd ? "on" : "off");
    out += "/>\n";
  }
  if (def.alias) out += fmt::format("{}<alias name='{}'/>\n", in, escape_attribute(*def.alias));
  if (def.address) {
    const PciAddress& a = *def.address;
    out += fmt::format("{}<address type='pci' domain='0x{:04x}' bus='0x{:02x}' slot='0x{:02x}' function='0x{:x}'",
                       in, a.domain, a.bus, a.slot, a.function);
    if (a.multifunction) out += fmt::format(" multifunction='{}'", *a.multifunction ? "on" : "off");
    out += "/>\n";
  } else if (def.other_address_type) {
    // Kept so a round trip reaches the same refusal (only PCI addresses are usable).
    out += fmt::format("{}<address type='{}'/>\n", in, escape_attribute(*def.other_address_type));
  }
  out += pad + "</shmem>\n";
  return out;
}

std::string format_devices_xml(const std::vector<ShmemDef>& shmems) {
  std::string out = "<devices>\n";
  for (const ShmemDef& def : shmems) out += format_shmem_xml(def, 2);
  out += "</devices>\n";
  return out;
}

}  // namespace nahanni::domxml
