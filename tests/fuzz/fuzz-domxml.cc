// nahanni-domxml's reader of libvirt domain XML (<shmem> elements) and what follows it: the
// libvirt-style preparation, the command line built from it, and the reverse mapping.
// Invariants:
//   - errors carry a message;
//   - parse -> format (<devices> as libvirt writes it) -> parse gives the same definitions
//     (sizes are written in MiB, as libvirt does, so a size is compared rounded down to MiB);
//   - a prepared domain's -object/-device/-chardev arguments, JSON and keyval alike, are valid
//     option syntax for the emulator, and reading them back (--reverse) finds the same shmems
//     (name, model, size, role, server path, vectors; the name of a device connected to a server
//     as far as its command line carries it).
#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "fuzz-support.h"
#include "tools/domxml/argv-builder.h"
#include "tools/domxml/argv-reverse.h"
#include "tools/domxml/domain-xml.h"
#include "tools/domxml/shmem-prepare.h"
#include "tools/domxml/shmem-xml-writer.h"
#include "util/keyval.h"

namespace nahanni {
namespace {

using namespace domxml;

ShmemDef in_mib(ShmemDef def) {
  def.size = def.size >> 20 << 20;
  return def;
}

void check_args(const DomainShmems& prepared, ArgFormat format) {
  std::vector<Arg> args = build_domain_args(prepared, format);
  std::vector<std::string> words{"nahanni-system-x86_64"};
  for (const Arg& a : args) {
    std::string_view implied = a.option == "-object" ? "qom-type" : a.option == "-device" ? "driver" : "backend";
    auto opts = parse_option_argument(a.value, implied);
    FUZZ_CHECK(opts.ok(), a.option + " " + a.value + ": " + (opts.ok() ? "" : opts.error().message()));
    words.push_back(a.option);
    words.push_back(a.value);
  }
  auto reversed = reverse_args(words);
  std::string joined;
  for (const auto& w : words) joined += w + ' ';
  FUZZ_CHECK(reversed.ok(), joined + ": " + (reversed.ok() ? "" : reversed.error().message()));
  const auto& back = reversed->domain.shmems;
  FUZZ_CHECK(back.size() == prepared.shmems.size(), joined);
  for (size_t i = 0; i < back.size(); ++i) {
    const ShmemDef& a = prepared.shmems[i];
    const ShmemDef& b = back[i];
    std::string which = fmt::format("{}: name '{}' / '{}', model {} / {}, size {} / {}", joined, a.name, b.name,
                                    to_string(a.model), to_string(b.model), a.size, b.size);
    // A server-connected device's command line (doorbell, or legacy ivshmem with chardev=) does
    // not carry the shmem name: --reverse takes it from a socket path of libvirt's default form
    // (shmem-NAME-sock, whoever wrote it) or from the device id.
    bool name_ok = a.name == b.name;
    bool via_server = a.model == ShmemModel::IvshmemDoorbell || (a.model == ShmemModel::Ivshmem && a.server);
    if (via_server && !name_ok)
      name_ok = (a.server && a.server->path == default_server_path(b.name)) || a.alias == b.name;
    FUZZ_CHECK(name_ok && a.model == b.model && a.size == b.size, which);
    FUZZ_CHECK(a.role.value_or(ShmemRole::Master) == b.role.value_or(ShmemRole::Master), joined);
    FUZZ_CHECK(a.server.has_value() == b.server.has_value(), joined);
    if (a.server && b.server) FUZZ_CHECK(a.server->path == b.server->path, joined);
    FUZZ_CHECK((a.msi ? a.msi->vectors : 0) == (b.msi ? b.msi->vectors : 0), joined);
  }
}

void silent_xml_errors(void*, const char*, ...) {}

}  // namespace
}  // namespace nahanni

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  xmlInitParser();
  xmlSetGenericErrorFunc(nullptr, nahanni::silent_xml_errors);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace nahanni;
  using namespace nahanni::domxml;
  auto parsed = parse_domain_xml(fuzz::as_text(data, size), "fuzz.xml");
  if (!parsed) {
    FUZZ_CHECK(!parsed.error().message().empty());
    return 0;
  }
  std::string printed = format_devices_xml(parsed->shmems);
  auto again = parse_domain_xml(printed, "printed.xml");
  FUZZ_CHECK(again.ok(), printed + (again.ok() ? "" : "\n" + again.error().message()));
  FUZZ_CHECK(again->shmems.size() == parsed->shmems.size(), printed);
  for (size_t i = 0; i < parsed->shmems.size(); ++i)
    FUZZ_CHECK(in_mib(parsed->shmems[i]) == again->shmems[i], printed);

  DomainShmems prepared = *parsed;
  std::vector<std::string> notes;
  Status st = prepare_shmems(prepared, notes);
  if (!st) {
    FUZZ_CHECK(!st.error().message().empty());
    return 0;
  }
  for (const auto& n : notes) FUZZ_CHECK(!n.empty());
  check_args(prepared, ArgFormat::Json);
  check_args(prepared, ArgFormat::Keyval);
  return 0;
}
