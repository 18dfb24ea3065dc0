// The emulator's command line: the options QEMU test suites and libvirt pass, scanned into a
// list in argv order (each with its text as typed, for error locations).
#pragma once

#include <string>
#include <vector>

#include "util/error.h"

namespace nahanni {

struct CmdlineOption {
  std::string name;      // canonical, without dashes: "device"
  std::string arg;       // empty for options without an argument
  std::string location;  // "-device ivshmem-plain,memdev=m" as typed, for messages
};

// "-nosuchopt: invalid option", "-device: requires an argument".
Result<std::vector<CmdlineOption>> scan_cmdline(int argc, char** argv);
// The -h text.
std::string cmdline_usage();

}  // namespace nahanni
