// The emulator's start-up: scan argv, then create in QEMU's order (objects, chardevs, machine
// and accelerator, qtest, monitors, devices), reset the machine and run the main loop. Any error
// before the guest runs prints one line in QEMU's form and exits 1; what was created is torn
// down by the objects' destructors, so nothing is left behind.
#include "system/vl.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>

#include "chardev/char.h"
#include "hw/char/isa-serial.h"
#include "hw/core/machine.h"
#include "hw/core/qdev-monitor.h"
#include "monitor/monitor.h"
#include "qom/type.h"
#include "qom/user-creatable.h"
#include "system/accel.h"
#include "system/cmdline.h"
#include "system/machine-lock.h"
#include "system/main-loop.h"
#include "system/qtest.h"
#include "system/runstate.h"
#include "util/log.h"
#include "util/size.h"

namespace nahanni {
namespace {

constexpr int kExitError = 1;

// One -accel option: the accelerator's name and its other parameters, applied as properties.
struct AccelOption {
  std::string name;
  std::string location;
  std::vector<std::pair<std::string, OptionValue>> properties;
};

struct Settings {
  std::string machine_type = "pc";
  MachineConfig machine;
  std::vector<AccelOption> accel_options;                // -accel, tried in command-line order
  std::optional<std::vector<std::string>> machine_accels;  // -machine accel=A:B, -enable-kvm (last wins)
  std::optional<OptionValue> kernel_irqchip;             // -machine kernel-irqchip=, a kvm-accel default
  std::string accel_location;                            // the chosen -accel, for later errors
  std::optional<std::string> qtest_spec;
  std::optional<std::string> qtest_log;
  bool start_paused = false;
  bool daemonize = false;
  std::string pidfile;
  bool exit_with_parent = false;
  std::vector<CmdlineOption> serials;  // -serial, in order
  bool nographic = false;
};

// Prints help text for "help" requests and exits 0; returns false when `opts` asked for none.
[[noreturn]] void print_and_exit(const std::string& text) {
  std::fputs(text.c_str(), stdout);
  std::exit(0);
}

Status parse_machine(const CmdlineOption& o, Settings& s) {
  NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(o.arg, "type"));
  if (opts.help) print_and_exit(machine_list_help());
  for (auto& [key, value] : opts.items) {
    if (key == "type") {
      if (value.text == "help" || value.text == "?") print_and_exit(machine_list_help());
      s.machine_type = value.text;
    } else if (key == "accel") {
      // QEMU's list: an empty value is an empty list ("no accelerator found"), "a::b" has an
      // empty name between the colons.
      std::vector<std::string> names;
      const std::string& list = value.text;
      for (size_t pos = 0; !list.empty() && pos <= list.size();) {
        size_t colon = list.find(':', pos);
        if (colon == std::string::npos) colon = list.size();
        names.push_back(list.substr(pos, colon - pos));
        pos = colon + 1;
      }
      s.machine_accels = std::move(names);
    } else if (key == "kernel-irqchip") {
      s.kernel_irqchip = value;  // as QEMU: a default for kvm-accel, checked when KVM is created
    } else if (key == "memory-backend") {
      s.machine.memory_backend = value.text;
    } else if (key == "usb" || key == "dump-guest-core" || key == "acpi" || key == "vmport" || key == "smm" ||
               key == "mem-merge" || key == "graphics" || key == "hpet" || key == "pit" ||
               key == "sata" || key == "i8042" || key == "nvdimm" || key == "suppress-vmdesc") {
      // Accepted for libvirt; they describe hardware nahanni's pc does not model or always has.
    } else {
      return Error::format("Property '{}-machine.{}' not found", s.machine_type, key);
    }
  }
  return {};
}

Status parse_memory(const CmdlineOption& o, Settings& s) {
  NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(o.arg, "size"));
  for (auto& [key, value] : opts.items) {
    if (key == "size") {
      auto size = parse_size(value.text, 1ull << 20);
      if (!size || *size == 0)
        return Error("Parameter 'size' expects a non-negative number below 2^64")
            .with_hint("Optional suffix k, M, G, T, P or E means kilo-, mega-, giga-, tera-, peta-\n"
                       "and exabytes, respectively.");
      s.machine.ram_size = *size;
    } else if (key != "slots" && key != "maxmem") {
      return Error::format("Invalid parameter '{}'", key);
    }
  }
  return {};
}

Status parse_accel(const CmdlineOption& o, Settings& s) {
  NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(o.arg, "accel"));
  const OptionValue* name = opts.find("accel");
  // QEMU lists the accelerators for "help" and also when no name is given.
  if (opts.help || !name || name->text == "help" || name->text == "?") {
    std::string text = "Accelerators supported in QEMU binary:\n";
    for (const TypeInfo* t : TypeRegistry::instance().list(kAccelType, false))
      if (t->name != "qtest-accel") text += t->name.substr(0, t->name.size() - 6) + "\n";  // qtest stays hidden
    print_and_exit(text);
  }
  // The other parameters are the accelerator's properties, set when it is tried
  // ("Property 'kvm-accel.thread' not found", as in QEMU).
  AccelOption accel{.name = name->text, .location = o.location, .properties = {}};
  for (auto& [key, value] : opts.items)
    if (key != "accel") accel.properties.emplace_back(key, value);
  s.accel_options.push_back(std::move(accel));
  return {};
}

// -smp [cpus=]N[,maxcpus=M][,sockets=S,dies=D,cores=C,threads=T]: nahanni models only the count
// (the guest sees one socket of N cores), so it is N, or the product of the topology when N is
// omitted.
Status parse_smp(const CmdlineOption& o, Settings& s) {
  static constexpr uint64_t kPcMaxCpus = 255;  // pc-i440fx's limit in QEMU
  NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(o.arg, "cpus"));
  std::optional<uint64_t> cpus, maxcpus;
  uint64_t topology = 1;
  bool zero = false;
  for (auto& [key, value] : opts.items) {
    if (key != "cpus" && key != "maxcpus" && key != "sockets" && key != "dies" && key != "cores" && key != "threads")
      return Error::format("Invalid parameter '{}'", key);
    NN_ASSIGN_OR_RETURN(uint64_t n, parse_uint_value("smp." + key, value, UINT32_MAX, "integer"));
    zero = zero || n == 0;
    if (key == "cpus") cpus = n;
    else if (key == "maxcpus") maxcpus = n;
    else topology *= n;
  }
  // QEMU 7.2 only warns and ignores zeros; nahanni rejects them (docs/system/accel-kvm.rst).
  if (zero) return Error("Invalid CPU topology: CPU topology parameters must be greater than zero");
  uint64_t n = cpus.value_or(topology);
  if (maxcpus && *maxcpus < n)
    return Error::format("Invalid CPU topology: maxcpus ({}) must be equal to or greater than the number of CPUs ({})",
                         *maxcpus, n);
  if (n > kPcMaxCpus)
    return Error::format("Invalid SMP CPUs {}. The max CPUs supported by machine '{}' is {}", n,
                         s.machine_type == "pc" ? "pc-i440fx-7.2" : s.machine_type, kPcMaxCpus);
  s.machine.cpus = static_cast<unsigned>(n);
  return {};
}

Status parse_msg(const CmdlineOption& o) {
  NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(o.arg, ""));
  for (auto& [key, value] : opts.items) {
    if (key == "timestamp") {
      NN_ASSIGN_OR_RETURN(bool on, parse_bool_value(key, value));
      log::set_timestamps(on);
    } else if (key != "guest-name") {
      return Error::format("Invalid parameter '{}'", key);
    }
  }
  return {};
}

Status check_uuid(const std::string& text) {
  static constexpr std::string_view kShape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
  bool ok = text.size() == kShape.size();
  for (size_t i = 0; ok && i < text.size(); ++i)
    ok = kShape[i] == '-' ? text[i] == '-' : std::isxdigit(static_cast<unsigned char>(text[i])) != 0;
  if (!ok) return Error("Fail to parse UUID string. Wrong format.");
  return {};
}

Status parse_display(const CmdlineOption& o) {
  std::string_view type = std::string_view(o.arg).substr(0, o.arg.find(','));
  if (type == "none") return {};
  if (type == "help") print_and_exit("Available display backend types:\nnone\n");
  return Error::format("Display '{}' is not available", type);
}

void teardown();
[[noreturn]] void fail(const std::string& location, const Error& err);

bool accel_compiled_in(const std::string& name) {
  const TypeInfo* t = TypeRegistry::instance().find(name + "-accel");
  return t && !t->abstract && TypeRegistry::instance().is_a(t->name, kAccelType);
}

// QEMU's accelerator list: each candidate is tried in order until one initializes. A name this
// binary lacks ("tcg": nahanni has no TCG) is "invalid accelerator NAME"; every failure is
// reported as it happens, and a later success after a failure says "falling back to NAME".
// With -machine accel=A:B, QEMU reports the invalid names before trying any. Nothing working is
// exit status 1, with "no accelerator found" only when nothing was reported already. A bad
// property (-accel kvm,thread=single) ends the start at once, as in QEMU.
Accelerator* create_accel(Settings& s, Machine& machine) {
  std::vector<AccelOption> candidates;
  bool init_failed = false;
  if (!s.accel_options.empty()) {
    candidates = s.accel_options;
  } else {
    // Machine "none" runs no guest code (libvirt probes with it): qtest unless asked otherwise.
    bool cpuless = !machine.memory();
    std::vector<std::string> names = s.machine_accels.value_or(
        std::vector<std::string>{s.qtest_spec || cpuless ? "qtest" : "kvm"});
    for (const std::string& name : names) {
      if (accel_compiled_in(name)) {
        candidates.push_back(AccelOption{.name = name, .location = "", .properties = {}});
      } else {
        log::errorf("invalid accelerator {}", name);
        init_failed = true;
      }
    }
  }
  for (const AccelOption& c : candidates) {
    log::LocationScope where(c.location);
    if (!accel_compiled_in(c.name)) {
      log::errorf("invalid accelerator {}", c.name);
      init_failed = true;
      continue;
    }
    auto obj = TypeRegistry::instance().create(c.name + "-accel");
    auto* accel = static_cast<Accelerator*>(obj.get());
    // -machine kernel-irqchip= is a default for the accelerators that have the property.
    if (s.kernel_irqchip && accel->find_property("kernel-irqchip")) {
      if (Status st = accel->set_property("kernel-irqchip", *s.kernel_irqchip); !st)
        fail("", Error::format("can't apply global {}.kernel-irqchip={}: {}", accel->type_name(),
                               s.kernel_irqchip->text, st.error().message()));
    }
    for (const auto& [key, value] : c.properties)
      if (Status st = accel->set_property(key, value); !st) fail(c.location, st.error());
    if (Status st = accel->init(machine); !st) {
      log::error(st.error());
      init_failed = true;
      continue;
    }
    // qtest runs are quiet about it, as in QEMU.
    if (init_failed && !s.qtest_spec) {
      log::LocationScope unnamed("");
      log::errorf("falling back to {}", c.name);
    }
    s.accel_location = c.location;
    Object* added = object_root().container("machine")->add_child("accel", std::move(obj));
    return static_cast<Accelerator*>(added);
  }
  if (!init_failed) log::error("no accelerator found");
  teardown();
  std::exit(kExitError);
}

Status write_pidfile(const std::string& path) {
  std::ofstream f(path, std::ios::trunc);
  if (!f) return Error::format("cannot create PID file: {}", std::strerror(errno));
  f << getpid() << '\n';
  return {};
}

// Daemonizing: the parent waits until the child is fully set up (monitor sockets exist), so a
// caller such as libvirt can connect as soon as the parent exits.
int g_daemon_ready_fd = -1;

void daemonize_start() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) < 0) std::exit(kExitError);
  pid_t pid = ::fork();
  if (pid < 0) std::exit(kExitError);
  if (pid > 0) {
    ::close(fds[1]);
    char status = 1;
    ssize_t n = ::read(fds[0], &status, 1);
    std::_Exit(n == 1 && status == 0 ? 0 : kExitError);
  }
  ::close(fds[0]);
  ::setsid();
  g_daemon_ready_fd = fds[1];
}

void daemonize_finish() {
  if (g_daemon_ready_fd < 0) return;
  int null_fd = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    ::close(null_fd);
  }
  char ok = 0;
  ssize_t unused = ::write(g_daemon_ready_fd, &ok, 1);
  (void)unused;
  ::close(g_daemon_ready_fd);
  g_daemon_ready_fd = -1;
}

// Releases everything in a safe order: protocol servers, devices (unrealized, so their fds and
// mappings go), the machine, user objects, chardevs. Runs on every exit path.
void teardown() {
  qtest_stop();
  monitor_cleanup();
  // vCPUs out of the guest before devices go.
  if (Accelerator* accel = current_accel()) accel->stop();
  if (Object* machine = object_root().child("machine")) {
    for (const char* container : {"peripheral", "peripheral-anon"}) {
      Object* parent = machine->child(container);
      if (!parent) continue;
      std::vector<std::string> names;
      for (const auto& [name, child] : parent->children()) names.push_back(name);
      for (auto it = names.rbegin(); it != names.rend(); ++it) {
        if (auto* dev = dynamic_cast<Device*>(parent->child(*it))) {
          dev->unrealize();
          if (Bus* bus = dev->parent_bus()) bus->unplug(*dev);
        }
        parent->remove_child(*it);
      }
    }
    if (Accelerator* accel = current_accel()) accel->shutdown();
    set_current_accel(nullptr);
    set_current_machine(nullptr);
    object_root().remove_child("machine");
  }
  object_root().remove_child("objects");
  object_root().remove_child("chardevs");
}

[[noreturn]] void fail(const std::string& location, const Error& err) {
  {
    log::LocationScope where(location);
    log::error(err);
  }
  teardown();
  std::exit(kExitError);
}

// -serial DEV: one isa-serial per option at the standard ports (COM1 0x3f8/IRQ 4, COM2
// 0x2f8/IRQ 3, ...); "none" leaves that port out. -nographic without -serial puts COM1 on
// stdio (QEMU multiplexes its HMP monitor there too; nahanni has none, so "mon:stdio" is stdio).
// Without either there is no serial port (QEMU would add one on a virtual console).
void create_serial_ports(const Settings& s) {
  std::vector<CmdlineOption> serials = s.serials;
  if (serials.empty() && s.nographic) serials.push_back({"serial", "mon:stdio", "-nographic"});
  int index = 0;
  for (const CmdlineOption& o : serials) {
    std::string_view spec = o.arg;
    if (spec == "none") continue;
    if (spec.starts_with("mon:")) spec.remove_prefix(4);
    if (spec == "vc" || spec.starts_with("vc:")) spec = "null";  // no graphical console to show it in
    auto chr = chardev_add_compat(spec, "serial" + std::to_string(index));
    if (!chr) {
      {
        log::LocationScope where(o.location);
        log::error(chr.error());
      }
      fail(o.location, Error::format("could not connect serial device to character backend '{}'", o.arg));
    }
    // As QEMU's pc: the backend of a fifth and later -serial is opened, but only four ports exist.
    if (index >= static_cast<int>(IsaSerial::kMaxPorts)) {
      ++index;
      continue;
    }
    OptionList opts;
    opts.items = {{"driver", OptionValue::from_text("isa-serial")},
                  {"index", OptionValue::from_text(std::to_string(index))},
                  {"chardev", OptionValue::from_text((*chr)->name())}};
    auto dev = device_add(std::move(opts), OptionSource::Internal, false);
    if (!dev) fail(o.location, dev.error());
    ++index;
  }
}

}  // namespace

int vl_main(int argc, char** argv) {
  std::string prog = argc > 0 ? argv[0] : "nahanni-system-x86_64";
  log::set_program_name(prog.substr(prog.rfind('/') + 1));
  ::signal(SIGPIPE, SIG_IGN);

  // The main thread holds the machine lock except while its loop waits (system/machine-lock.h).
  machine_lock();
  machine_lock_attach_to_main_loop();

  auto scanned = scan_cmdline(argc, argv);
  if (!scanned) fail("", scanned.error());
  const std::vector<CmdlineOption>& options = *scanned;
  Settings s;

  // First pass: what changes how everything else is reported or ends the run early.
  for (const CmdlineOption& o : options) {
    if (o.name == "h") print_and_exit(cmdline_usage());
    if (o.name == "version")
      print_and_exit("QEMU emulator version 7.2.0 (nahanni " NAHANNI_VERSION ")\n"
                     "nahanni: written anew for inter-VM shared memory; QEMU-compatible command line\n");
    if (o.name == "msg")
      if (Status st = parse_msg(o); !st) fail(o.location, st.error());
  }

  // Second pass: settings, validation and help requests, before anything is created.
  for (const CmdlineOption& o : options) {
    Status st;
    if (o.name == "machine") st = parse_machine(o, s);
    else if (o.name == "m") st = parse_memory(o, s);
    else if (o.name == "smp") st = parse_smp(o, s);
    else if (o.name == "accel") st = parse_accel(o, s);
    else if (o.name == "enable-kvm") s.machine_accels = std::vector<std::string>{"kvm"};  // QEMU: -machine accel=kvm
    else if (o.name == "S") s.start_paused = true;
    else if (o.name == "display") st = parse_display(o);
    else if (o.name == "uuid") st = check_uuid(o.arg);
    else if (o.name == "daemonize") s.daemonize = true;
    else if (o.name == "serial") s.serials.push_back(o);
    else if (o.name == "kernel") s.machine.kernel = o.arg;
    else if (o.name == "initrd") s.machine.initrd = o.arg;
    else if (o.name == "append") s.machine.append = o.arg;
    else if (o.name == "nographic") s.nographic = true;
    else if (o.name == "no-reboot") set_no_reboot(true);
    else if (o.name == "pidfile") s.pidfile = o.arg;
    else if (o.name == "qtest") s.qtest_spec = o.arg;
    else if (o.name == "qtest-log") s.qtest_log = o.arg;
    else if (o.name == "global") st = qdev_add_global(o.arg);
    else if (o.name == "run-with") {
      auto opts = parse_keyval(o.arg, "");
      if (!opts) st = opts.error();
      else if (const OptionValue* v = opts->find("exit-with-parent")) {
        auto on = parse_bool_value("exit-with-parent", *v);
        if (!on) st = on.error();
        else s.exit_with_parent = *on;
      }
    } else if (o.name == "object" || o.name == "device" || o.name == "chardev") {
      auto opts = parse_option_argument(o.arg, o.name == "object" ? "qom-type" : o.name == "device" ? "driver" : "backend");
      if (!opts) {
        st = opts.error();
      } else if (opts->help) {
        if (o.name == "object") {
          auto type = opts->find_text("qom-type");
          if (!type) print_and_exit(user_creatable_list_help());
          print_and_exit(format_property_help(*type, *type + " options"));
        } else if (o.name == "device") {
          auto type = opts->find_text("driver");
          if (!type) print_and_exit(device_list_help());
          auto text = device_type_help(*type);
          if (!text) st = text.error();
          else print_and_exit(*text);
        } else {
          print_and_exit(opts->has("backend") ? chardev_options_help() : chardev_backend_help());
        }
      } else if (o.name == "device") {
        auto driver = opts->find_text("driver");
        if (driver && *driver == "help") print_and_exit(device_list_help());
      }
    }
    if (!st) fail(o.location, st.error());
  }
  if (!s.accel_options.empty() && s.machine_accels)
    fail("", Error("The -accel and \"-machine accel=\" options are incompatible"));
  if (s.machine.kernel.empty()) {
    if (!s.machine.initrd.empty()) fail("", Error("-initrd only allowed with -kernel option"));
    if (!s.machine.append.empty()) fail("", Error("-append only allowed with -kernel option"));
  }
  if (s.exit_with_parent) ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (s.daemonize) daemonize_start();

  // Objects, then chardevs, whatever their order on the command line (as QEMU does).
  for (const CmdlineOption& o : options) {
    if (o.name != "object") continue;
    log::LocationScope where(o.location);
    auto opts = parse_option_argument(o.arg, "qom-type");
    for (const std::string& w : opts->warnings) log::warning(w);
    if (auto r = user_creatable_add(std::move(*opts), OptionSource::CommandLine); !r) fail(o.location, r.error());
  }
  for (const CmdlineOption& o : options) {
    if (o.name != "chardev") continue;
    log::LocationScope where(o.location);
    auto opts = parse_option_argument(o.arg, "backend");
    for (const std::string& w : opts->warnings) log::warning(w);
    if (auto r = chardev_add(std::move(*opts), OptionSource::CommandLine); !r) fail(o.location, r.error());
  }

  // The machine and its accelerator.
  const MachineTypeInfo* mtype = find_machine_type(s.machine_type);
  if (!mtype) {
    log::error("unsupported machine type");
    log::hint("Use -machine help to list supported machines");
    teardown();
    std::exit(kExitError);
  }
  auto machine_obj = TypeRegistry::instance().create(mtype->qom_type());
  auto* machine = static_cast<Machine*>(object_root().add_child("machine", std::move(machine_obj)));
  set_current_machine(machine);
  if (Status st = machine->init(s.machine); !st) fail("", st.error());
  Accelerator* accel = create_accel(s, *machine);
  set_current_accel(accel);
  install_runstate_hooks(*machine);

  if (s.qtest_spec) {
    if (Status st = qtest_init(*s.qtest_spec, s.qtest_log); !st) fail("-qtest " + *s.qtest_spec, st.error());
  }

  // Monitors.
  int compat_monitors = 0;
  for (const CmdlineOption& o : options) {
    if (o.name != "mon" && o.name != "qmp" && o.name != "qmp-pretty") continue;
    log::LocationScope where(o.location);  // "waiting for connection" notices name the option
    Status st;
    if (o.name == "mon") {
      auto opts = parse_keyval(o.arg, "chardev");
      if (!opts) fail(o.location, opts.error());
      auto id = opts->find_text("chardev");
      auto mode = opts->find_text("mode");
      if (!id) fail(o.location, Error("Parameter 'chardev' is missing"));
      if (mode && *mode != "control")
        fail(o.location, Error::format("monitor mode '{}' is not supported: only QMP (mode=control)", *mode));
      Chardev* chr = find_chardev(*id);
      if (!chr) fail(o.location, Error::format("chardev \"{}\" not found", *id));
      st = monitor_start(*chr, false);
    } else if (o.name == "qmp" || o.name == "qmp-pretty") {
      auto chr = chardev_add_compat(o.arg, "compat_monitor" + std::to_string(compat_monitors++));
      if (!chr) fail(o.location, chr.error());
      st = monitor_start(**chr, o.name == "qmp-pretty");
    }
    if (!st) fail(o.location, st.error());
  }

  // Serial ports (-serial, -nographic) before -device, so they take COM1.. in order.
  create_serial_ports(s);

  // Devices, in command-line order.
  for (const CmdlineOption& o : options) {
    if (o.name != "device") continue;
    log::LocationScope where(o.location);
    auto opts = parse_option_argument(o.arg, "driver");
    for (const std::string& w : opts->warnings) log::warning(w);
    if (auto r = device_add(std::move(*opts), OptionSource::CommandLine, false); !r) fail(o.location, r.error());
  }

  machine->reset();
  if (Status st = accel->machine_ready(); !st) fail(s.accel_location, st.error());
  if (!s.pidfile.empty())
    if (Status st = write_pidfile(s.pidfile); !st) fail("", st.error());
  daemonize_finish();

  if (Status st = runstate_start(!s.start_paused); !st) fail("", st.error());
  int status = run_main_loop();

  teardown();
  if (!s.pidfile.empty()) ::unlink(s.pidfile.c_str());
  return status;
}

}  // namespace nahanni
