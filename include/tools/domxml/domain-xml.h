// Reads the <shmem> elements of a libvirt domain XML document, with libvirt's parse-time
// checks and messages ("XML error: ..."). The root may be <domain> (devices/shmem), <devices>
// (what --reverse prints) or a lone <shmem>.
#pragma once

#include <string_view>

#include "tools/domxml/shmem-def.h"
#include "util/error.h"

namespace nahanni::domxml {

// `source_name` names the input in messages about malformed XML ("dom.xml:3: ...").
Result<DomainShmems> parse_domain_xml(std::string_view text, std::string_view source_name);

}  // namespace nahanni::domxml
