// Shared helpers for the nahanni-domxml tests: run the forward direction the way the tool does
// and collect printed lines, notes or the error message.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tools/domxml/argv-builder.h"
#include "tools/domxml/argv-reverse.h"
#include "tools/domxml/domain-xml.h"
#include "tools/domxml/shell-words.h"
#include "tools/domxml/shmem-prepare.h"
#include "tools/domxml/shmem-xml-writer.h"

namespace nahanni::domxml::testing {

struct Forward {
  std::vector<std::string> lines;  // "OPTION QUOTED-VALUE", as the tool prints them
  std::vector<std::string> notes;
  std::string error;  // empty on success
  DomainShmems domain;
};

inline Forward forward(std::string_view xml, ArgFormat format = ArgFormat::Json, PrepareOptions options = {}) {
  Forward out;
  auto parsed = parse_domain_xml(xml, "dom.xml");
  if (!parsed) {
    out.error = parsed.error().message();
    return out;
  }
  out.domain = std::move(parsed).value();
  if (Status st = prepare_shmems(out.domain, out.notes, options); !st) {
    out.error = st.error().message();
    return out;
  }
  for (const Arg& arg : build_domain_args(out.domain, format)) out.lines.push_back(arg.option + " " + shell_quote(arg.value));
  return out;
}

// One <shmem> (or several) inside a minimal i440fx domain.
inline std::string domain_with(std::string_view devices, std::string_view machine = "pc") {
  return "<domain type='kvm'><name>t</name><os><type arch='x86_64' machine='" + std::string(machine) +
         "'>hvm</type></os><devices>" + std::string(devices) + "</devices></domain>";
}

// The first error of a domain holding `devices`.
inline std::string error_of(std::string_view devices, PrepareOptions options = {}) {
  return forward(domain_with(devices), ArgFormat::Json, options).error;
}

inline std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    lines.emplace_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

inline std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

// The printed lines read back as the tool's --reverse reads a file.
inline Result<ReverseResult> reverse_text(std::string_view text) {
  auto words = split_shell_words(text);
  if (!words) return std::move(words).error();
  return reverse_args(*words);
}

}  // namespace nahanni::domxml::testing
