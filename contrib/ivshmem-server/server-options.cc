#include "server-options.h"

#include <getopt.h>

#include <charconv>
#include <cstdio>
#include <string_view>

#include "util/size.h"

namespace nahanni::ivshmem {
namespace {

enum LongOnly { kKeepShm = 256, kMaxPeers, kMaxVectors, kMaxQueue, kSocketMode, kAllowUid, kAllowGid };

std::optional<uint64_t> parse_number(std::string_view text, int base = 10) {
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// "1000,1001" or repeated options: every id is appended.
Status parse_id_list(std::string_view text, std::vector<unsigned>& out, const char* what) {
  while (true) {
    size_t comma = text.find(',');
    auto v = parse_number(text.substr(0, comma));
    if (!v || *v > 0xffffffffu) return Error::format("cannot parse {} '{}'", what, text.substr(0, comma));
    out.push_back(static_cast<unsigned>(*v));
    if (comma == std::string_view::npos) return {};
    text.remove_prefix(comma + 1);
  }
}

}  // namespace

void print_server_usage(const char* program) {
  std::printf(
      "Usage: %s [OPTION]...\n"
      "  -h, --help             show this help\n"
      "  -v, --verbose          log peers coming and going (with -F only)\n"
      "  -F, --foreground       do not daemonize\n"
      "  -p, --pid-file FILE    pid file (daemon mode default: %s)\n"
      "  -S, --socket-path PATH unix socket to listen on (default: /tmp/ivshmem_socket)\n"
      "  -M, --shm-name NAME    POSIX shared memory object to create (default: an anonymous memfd)\n"
      "  -m, --shm-dir DIR      create the memory as an unlinked file in DIR (e.g. hugetlbfs)\n"
      "  -l, --size SIZE        shared memory size, K/M/G suffixes allowed (default: 4M)\n"
      "  -n, --vectors N        interrupt vectors per peer (default: 1, max: %u)\n"
      "      --keep-shm         leave the -M object in place at exit\n"
      "      --max-peers N      refuse peers beyond N (default and max: 65536)\n"
      "      --max-vectors N    most vectors a peer may ask for (default: 64)\n"
      "      --max-queue N      drop a peer owed more than N messages beyond its greeting\n"
      "                         (default: 4096)\n"
      "      --socket-mode MODE permissions of the socket, octal (default: 0600)\n"
      "      --allow-uid UID[,UID...]  accept only peers with these uids (or --allow-gid)\n"
      "      --allow-gid GID[,GID...]  accept only peers with these gids (or --allow-uid)\n",
      program, kDefaultPidFile, kMaxServerVectors);
}

Result<ServerOptions> parse_server_options(int argc, char** argv) {
  static const option long_options[] = {
      {"help", no_argument, nullptr, 'h'},
      {"verbose", no_argument, nullptr, 'v'},
      {"foreground", no_argument, nullptr, 'F'},
      {"pid-file", required_argument, nullptr, 'p'},
      {"socket-path", required_argument, nullptr, 'S'},
      {"shm-name", required_argument, nullptr, 'M'},
      {"shm-dir", required_argument, nullptr, 'm'},
      {"size", required_argument, nullptr, 'l'},
      {"vectors", required_argument, nullptr, 'n'},
      {"keep-shm", no_argument, nullptr, kKeepShm},
      {"max-peers", required_argument, nullptr, kMaxPeers},
      {"max-vectors", required_argument, nullptr, kMaxVectors},
      {"max-queue", required_argument, nullptr, kMaxQueue},
      {"socket-mode", required_argument, nullptr, kSocketMode},
      {"allow-uid", required_argument, nullptr, kAllowUid},
      {"allow-gid", required_argument, nullptr, kAllowGid},
      {nullptr, 0, nullptr, 0},
  };
  ServerOptions opts;
  opterr = 0;
  optind = 1;
  int c;
  while ((c = getopt_long(argc, argv, ":hvFp:S:m:M:l:n:", long_options, nullptr)) != -1) {
    std::string_view arg = optarg ? optarg : "";
    switch (c) {
      case 'h': opts.help = true; break;
      case 'v': opts.verbose = true; break;
      case 'F': opts.foreground = true; break;
      case 'p': opts.pid_file = std::string(arg); break;
      case 'S': opts.socket_path = std::string(arg); break;
      // -M and -m override each other, as in QEMU: the last one wins.
      case 'M': opts.shm_name = std::string(arg); opts.shm_dir.reset(); break;
      case 'm': opts.shm_dir = std::string(arg); opts.shm_name.reset(); break;
      case 'l': {
        auto size = parse_size(arg);
        if (!size || *size == 0) return Error::format("cannot parse size '{}'", arg);
        opts.shm_size = *size;
        break;
      }
      case 'n': {
        auto n = parse_number(arg);
        if (!n || *n == 0) return Error("cannot parse n_vectors");
        if (*n > kMaxServerVectors) return Error::format("too many requested vectors (max is {})", kMaxServerVectors);
        opts.vectors = static_cast<unsigned>(*n);
        break;
      }
      case kKeepShm: opts.keep_shm = true; break;
      case kMaxPeers: {
        auto n = parse_number(arg);
        if (!n || *n == 0 || *n > 65536) return Error::format("cannot parse max-peers '{}' (1..65536)", arg);
        opts.max_peers = static_cast<unsigned>(*n);
        break;
      }
      case kMaxVectors: {
        auto n = parse_number(arg);
        if (!n || *n == 0 || *n > kMaxServerVectors)
          return Error::format("cannot parse max-vectors '{}' (1..{})", arg, kMaxServerVectors);
        opts.max_vectors = static_cast<unsigned>(*n);
        break;
      }
      case kMaxQueue: {
        auto n = parse_number(arg);
        if (!n || *n == 0 || *n > (1u << 24)) return Error::format("cannot parse max-queue '{}'", arg);
        opts.max_queue = static_cast<size_t>(*n);
        break;
      }
      case kSocketMode: {
        auto n = parse_number(arg, 8);
        if (!n || *n > 0777) return Error::format("cannot parse socket-mode '{}' (octal, e.g. 0660)", arg);
        opts.socket_mode = static_cast<unsigned>(*n);
        break;
      }
      case kAllowUid: NN_TRY(parse_id_list(arg, opts.allow_uids, "uid")); break;
      case kAllowGid: NN_TRY(parse_id_list(arg, opts.allow_gids, "gid")); break;
      case ':': return Error::format("option '{}' requires an argument", argv[optind - 1]);
      default: return Error::format("invalid option '{}'", argv[optind - 1]);
    }
  }
  if (optind < argc) return Error::format("unexpected argument '{}'", argv[optind]);
  if (opts.verbose && !opts.foreground && !opts.help) return Error("cannot use verbose in daemon mode");
  if (opts.vectors > opts.max_vectors) opts.max_vectors = opts.vectors;
  return opts;
}

}  // namespace nahanni::ivshmem
