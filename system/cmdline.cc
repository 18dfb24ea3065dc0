#include "system/cmdline.h"

#include <fmt/format.h>

#include <array>
#include <string_view>

namespace nahanni {
namespace {

struct OptionSpec {
  std::string_view name;
  bool has_arg;
  std::string_view help;  // empty: accepted for compatibility, not listed
};

// Options nahanni acts on, then options accepted because libvirt and test suites pass them.
constexpr std::array kOptions = {
    OptionSpec{"machine", true, "-machine TYPE[,memory-backend=ID][,accel=A]  select the machine (default: pc)"},
    OptionSpec{"M", true, ""},
    OptionSpec{"accel", true, "-accel qtest|kvm                   select the accelerator"},
    OptionSpec{"enable-kvm", false, "-enable-kvm                        same as -accel kvm"},
    OptionSpec{"m", true, "-m [size=]SIZE                     guest RAM (default 128M; bare numbers are MiB)"},
    OptionSpec{"smp", true, "-smp N                             number of vCPUs"},
    OptionSpec{"object", true, "-object TYPE,id=ID,...             create an object (help: -object help)"},
    OptionSpec{"chardev", true, "-chardev BACKEND,id=ID,...         create a character device"},
    OptionSpec{"device", true, "-device DRIVER,...                 add a device (help: -device help)"},
    OptionSpec{"global", true, "-global DRIVER.PROP=VALUE          default for a device property"},
    OptionSpec{"mon", true, "-mon chardev=ID,mode=control        QMP monitor on a chardev"},
    OptionSpec{"qmp", true, "-qmp DEV                           QMP monitor (unix:PATH,server=on,wait=off ...)"},
    OptionSpec{"qmp-pretty", true, ""},
    OptionSpec{"qtest", true, "-qtest DEV                         qtest protocol (unix:PATH, chardev:ID)"},
    OptionSpec{"qtest-log", true, "-qtest-log FILE|none               log of the qtest protocol"},
    OptionSpec{"S", false, "-S                                 do not start the guest until 'cont'"},
    OptionSpec{"nodefaults", false, "-nodefaults                        no default devices (nahanni adds none)"},
    OptionSpec{"display", true, "-display none                      no display (the only one)"},
    OptionSpec{"nographic", false, "-nographic                         no display; COM1 on stdio unless -serial is given"},
    OptionSpec{"no-user-config", false, "-no-user-config                    no configuration files are read anyway"},
    OptionSpec{"name", true, "-name [guest=]NAME                 the guest's name"},
    OptionSpec{"uuid", true, "-uuid UUID                         the guest's UUID"},
    OptionSpec{"msg", true, "-msg timestamp=on|off              prefix messages with a timestamp"},
    OptionSpec{"daemonize", false, "-daemonize                         run in the background once set up"},
    OptionSpec{"pidfile", true, "-pidfile FILE                      write the process id to FILE"},
    OptionSpec{"run-with", true, "-run-with exit-with-parent=on      end when the parent process ends"},
    OptionSpec{"version", false, "-version                           print the version"},
    OptionSpec{"h", false, "-h                                 this text"},
    OptionSpec{"help", false, ""},
    OptionSpec{"kernel", true, "-kernel FILE                       boot a PVH ELF or a Linux bzImage (no firmware)"},
    OptionSpec{"initrd", true, "-initrd FILE                       initial ram disk for -kernel"},
    OptionSpec{"append", true, "-append CMDLINE                    kernel command line for -kernel"},
    OptionSpec{"serial", true, "-serial DEV                        a 16550A at COM1, COM2.. (stdio, null, none, file:, unix:, chardev:)"},
    OptionSpec{"monitor", true, ""},
    OptionSpec{"audio", true, ""},
    OptionSpec{"audiodev", true, ""},
    OptionSpec{"cpu", true, ""},
    OptionSpec{"rtc", true, ""},
    OptionSpec{"boot", true, ""},
    OptionSpec{"overcommit", true, ""},
    OptionSpec{"sandbox", true, ""},
    OptionSpec{"vga", true, ""},
    OptionSpec{"trace", true, ""},
    OptionSpec{"D", true, ""},
    OptionSpec{"d", true, ""},
    OptionSpec{"L", true, ""},
    OptionSpec{"k", true, ""},
    OptionSpec{"action", true, ""},
    OptionSpec{"no-shutdown", false, ""},
    OptionSpec{"no-reboot", false, "-no-reboot                         a guest reset ends the emulator instead"},
    OptionSpec{"no-hpet", false, ""},
    OptionSpec{"no-acpi", false, ""},
    OptionSpec{"snapshot", false, ""},
};

}  // namespace

Result<std::vector<CmdlineOption>> scan_cmdline(int argc, char** argv) {
  std::vector<CmdlineOption> out;
  for (int i = 1; i < argc; ++i) {
    std::string_view typed = argv[i];
    if (typed.size() < 2 || typed[0] != '-')
      return Error::format("{}: invalid option", typed);  // QEMU takes a bare word as a disk image
    std::string_view name = typed.substr(typed.starts_with("--") ? 2 : 1);
    const OptionSpec* spec = nullptr;
    for (const OptionSpec& s : kOptions)
      if (s.name == name) spec = &s;
    if (!spec) return Error::format("{}: invalid option", typed);
    CmdlineOption opt{std::string(spec->name == "M" ? "machine" : spec->name == "help" ? "h" : spec->name), {},
                      std::string(typed)};
    if (spec->has_arg) {
      if (i + 1 >= argc) return Error::format("{}: requires an argument", typed);
      opt.arg = argv[++i];
      opt.location = fmt::format("{} {}", typed, opt.arg);
    }
    out.push_back(std::move(opt));
  }
  return out;
}

std::string cmdline_usage() {
  std::string out =
      "usage: nahanni-system-x86_64 [options]\n"
      "nahanni: a QEMU-compatible emulator for inter-VM shared memory (ivshmem)\n\n";
  for (const OptionSpec& s : kOptions)
    if (!s.help.empty()) out += fmt::format("{}\n", s.help);
  out += "\nOther QEMU options libvirt passes (-cpu, -rtc, -boot, -overcommit, -sandbox, -audiodev, ...) are "
         "accepted and have no effect.\n";
  return out;
}

}  // namespace nahanni
