// nahanni-domxml: libvirt domain XML <shmem> elements to the -object/-device/-chardev arguments
// libvirt's QEMU driver would write, and (--reverse) such a command line back to <shmem> XML.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "tools/domxml/argv-builder.h"
#include "tools/domxml/argv-reverse.h"
#include "tools/domxml/domain-xml.h"
#include "tools/domxml/shell-words.h"
#include "tools/domxml/shmem-prepare.h"
#include "tools/domxml/shmem-xml-writer.h"
#include "util/log.h"

namespace nahanni::domxml {
namespace {

constexpr std::string_view kUsage =
    "Usage: nahanni-domxml [--format=json|keyval] [--strict] DOMAIN.xml|-\n"
    "       nahanni-domxml --reverse [FILE|-]\n"
    "       nahanni-domxml --reverse -- ARG...\n"
    "\n"
    "Prints, one option per line and shell-quoted, the -object/-device/-chardev arguments libvirt's\n"
    "QEMU driver writes for every <shmem> of a domain; with --reverse reads such arguments (shell\n"
    "words from FILE or standard input, or the ARGs themselves) and prints the <shmem> elements.\n"
    "\n"
    "  --format=json    -object/-device as JSON objects, as current libvirt writes them (default)\n"
    "  --format=keyval  key=value arguments, as libvirt writes them for an older QEMU\n"
    "  --strict         refuse model 'ivshmem' as current libvirt does, instead of emitting the\n"
    "                   legacy -device ivshmem for nahanni's shim with a deprecation note\n"
    "  --reverse        command line to <shmem> XML (a <devices> document)\n"
    "  -h, --help       this text\n";

int fail(std::string_view message) {
  log::error(fmt::format("error: {}", message));
  return 1;
}

void print_notes(const std::vector<std::string>& notes) {
  for (const auto& note : notes) log::warning(note);
}

Result<std::string> read_input(const std::string& path) {
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), {});
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

int run_forward(const std::string& path, ArgFormat format, const PrepareOptions& options) {
  auto text = read_input(path);
  if (!text) return fail(text.error().message());
  auto domain = parse_domain_xml(*text, path == "-" ? "(stdin)" : path);
  if (!domain) return fail(domain.error().message());
  std::vector<std::string> notes;
  Status st = prepare_shmems(*domain, notes, options);
  print_notes(notes);
  if (!st) return fail(st.error().message());
  std::string out;
  for (const Arg& arg : build_domain_args(*domain, format)) out += fmt::format("{} {}\n", arg.option, shell_quote(arg.value));
  std::fputs(out.c_str(), stdout);
  return 0;
}

int run_reverse(const std::vector<std::string>& words) {
  auto result = reverse_args(words);
  if (!result) return fail(result.error().message());
  print_notes(result->notes);
  std::fputs(format_devices_xml(result->domain.shmems).c_str(), stdout);
  return 0;
}

int main_impl(int argc, char** argv) {
  log::set_program_name("nahanni-domxml");
  ArgFormat format = ArgFormat::Json;
  PrepareOptions options;
  bool reverse = false;
  std::vector<std::string> positional;
  std::vector<std::string> words;  // after "--"
  bool words_follow = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (words_follow) {
      words.push_back(arg);
    } else if (arg == "--") {
      words_follow = true;
    } else if (arg == "-h" || arg == "--help") {
      std::fputs(kUsage.data(), stdout);
      return 0;
    } else if (arg == "--format=json") {
      format = ArgFormat::Json;
    } else if (arg == "--format=keyval") {
      format = ArgFormat::Keyval;
    } else if (arg == "--strict") {
      options.allow_legacy_ivshmem = false;
    } else if (arg == "--reverse") {
      reverse = true;
    } else if (arg.starts_with("-") && arg != "-") {
      log::error(fmt::format("error: unknown option '{}'", arg));
      std::fputs(kUsage.data(), stderr);
      return 1;
    } else {
      positional.push_back(arg);
    }
  }
  if (reverse) {
    if (words_follow) {
      if (!positional.empty()) return fail("--reverse takes either a FILE or words after '--', not both");
      return run_reverse(words);
    }
    if (positional.size() > 1) return fail("--reverse reads one FILE; put command-line words after '--'");
    auto text = read_input(positional.empty() ? "-" : positional[0]);
    if (!text) return fail(text.error().message());
    auto words = split_shell_words(*text);
    if (!words) return fail(words.error().message());
    return run_reverse(*words);
  }
  if (words_follow || positional.size() != 1) {
    std::fputs(kUsage.data(), stderr);
    return 1;
  }
  return run_forward(positional[0], format, options);
}

}  // namespace
}  // namespace nahanni::domxml

int main(int argc, char** argv) { return nahanni::domxml::main_impl(argc, argv); }
