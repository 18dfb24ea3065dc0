#include "chardev/char.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>

#include "chardev/char-internal.h"
#include "chardev/char-opts.h"
#include "qom/type.h"
#include "system/main-loop.h"

namespace nahanni {
namespace {

const TypeRegistration kChardevTypeReg{TypeInfo{
    .name = std::string(kChardevType), .parent = "object", .abstract = true, .user_creatable = false}};

// Backends by their -chardev name, in the order "-chardev help" lists them (QEMU's order).
constexpr std::string_view kBackends[] = {"stdio", "null", "socket", "file"};

bool is_backend(std::string_view name) {
  for (std::string_view b : kBackends)
    if (b == name) return true;
  return false;
}

Object& chardevs_container() { return *object_root().container("chardevs"); }

std::function<Result<UniqueFd>(std::string_view)>& fd_lookup() {
  static std::function<Result<UniqueFd>(std::string_view)> lookup;
  return lookup;
}

}  // namespace

Status Chardev::attach(Frontend frontend) {
  if (attached_) return Error::format("Chardev '{}' is busy", name());
  frontend_ = std::move(frontend);
  attached_ = true;
  // As QEMU: a frontend arriving at an open backend is told so at once.
  if (connected()) deliver_event(ChardevEvent::Opened);
  frontend_changed();
  return {};
}

void Chardev::detach() {
  if (!attached_) return;
  frontend_ = {};
  attached_ = false;
  frontend_changed();
}

void Chardev::deliver(std::span<const uint8_t> data, std::vector<UniqueFd>& fds) {
  if (!attached_ || !frontend_.on_read) return;
  // A copy: the frontend may detach (and so destroy its callbacks) from inside the call.
  auto on_read = frontend_.on_read;
  on_read(data, fds);
}

void Chardev::deliver_event(ChardevEvent event) {
  if (!attached_ || !frontend_.on_event) return;
  auto on_event = frontend_.on_event;
  on_event(event);
}

Result<size_t> Chardev::read_blocking(std::span<uint8_t> buf, std::vector<UniqueFd>& fds,
                                      std::chrono::milliseconds timeout) {
  (void)buf;
  (void)fds;
  (void)timeout;
  return Error::format("Chardev '{}': blocking reads are not supported by {}", name(), type_name());
}

Result<UniqueFd> chardev_take_fd(std::string_view text, OptionSource source) {
  if (source == OptionSource::Qmp) {
    if (auto& lookup = fd_lookup()) {
      if (auto fd = lookup(text)) return std::move(fd).value();
    }
    return Error::format("File descriptor named '{}' has not been found", text);
  }
  std::string s(text);
  errno = 0;
  char* end = nullptr;
  long v = s.empty() || !(std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-') ? 0 : std::strtol(s.c_str(), &end, 10);
  if (s.empty() || !end || *end != '\0' || errno != 0 || v > INT32_MAX)
    return Error::format("Unable to parse FD number {}", text);
  struct stat st{};
  if (v < 0 || ::fstat(static_cast<int>(v), &st) < 0 || !S_ISSOCK(st.st_mode))
    return Error::format("File descriptor '{}' is not a socket", text);
  return UniqueFd(static_cast<int>(v));
}

void set_chardev_fd_lookup(std::function<Result<UniqueFd>(std::string_view name)> lookup) {
  fd_lookup() = std::move(lookup);
}

Result<Chardev*> chardev_add(OptionList opts, OptionSource source) {
  main_loop();  // constructed before any chardev registers with it
  const bool cli = source == OptionSource::CommandLine;
  std::optional<std::string> id = chardev_opt_string(opts, "id");
  // QEMU's order: the id's form and uniqueness, then the option table, then id and backend presence.
  if (id && cli && !is_valid_id(*id)) return invalid_id_error();
  if (id && find_chardev(*id)) {
    if (cli) return Error::format("Duplicate ID '{}' for chardev", *id);
    return Error::format("Chardev with id '{}' already exists", *id);
  }
  NN_TRY(chardev_check_options(opts));
  if (!id) return cli ? Error("chardev: no id specified") : Error("Parameter 'id' is missing");
  std::optional<std::string> backend = chardev_opt_string(opts, "backend");
  if (!backend) return Error::format("chardev: \"{}\" missing backend", *id);
  if (!is_backend(*backend)) {
    if (cli) return Error::format("'{}' is not a valid char driver name", *backend);
    return Error::format("Parameter 'type' does not accept value '{}'", *backend);
  }

  std::unique_ptr<Object> obj = TypeRegistry::instance().create("chardev-" + *backend);
  auto* chr = object_cast<Chardev>(obj.get());
  if (!chr) return Error::format("'{}' is not a valid char driver name", *backend);
  chr->source_ = source;
  auto failed = [&](Error err) -> Error {
    if (cli) return err;
    return std::move(err).prepend(fmt::format("Failed to add chardev '{}': ", *id));
  };
  // The name is set before opening so that messages ("Unable to connect character device ID")
  // and paths can use it; a failure takes it out again, leaving nothing behind.
  Object* added = chardevs_container().add_child(*id, std::move(obj));
  if (Status st = chr->configure(opts); !st) {
    chardevs_container().remove_child(*id);
    return failed(std::move(st).error());
  }
  if (Status st = chr->complete(); !st) {
    chardevs_container().remove_child(*id);
    return failed(std::move(st).error());
  }
  (void)added;
  return chr;
}

Result<Chardev*> chardev_add_compat(std::string_view spec, std::string id) {
  auto with_rest = [&](std::string backend, std::string_view rest, std::string_view implied) -> Result<Chardev*> {
    NN_ASSIGN_OR_RETURN(OptionList opts, parse_keyval(rest, implied));
    opts.items.insert(opts.items.begin(), {"backend", OptionValue::from_text(std::move(backend))});
    opts.items.insert(opts.items.begin() + 1, {"id", OptionValue::from_text(id)});
    return chardev_add(std::move(opts), OptionSource::CommandLine);
  };
  if (spec == "null" || spec == "stdio") return with_rest(std::string(spec), "", "");
  if (spec.starts_with("chardev:")) {
    std::string_view name = spec.substr(8);
    if (Chardev* chr = find_chardev(name)) return chr;
    return Error::format("chardev \"{}\" not found", name);
  }
  if (spec.starts_with("file:")) {
    OptionList opts;
    opts.items = {{"backend", OptionValue::from_text("file")},
                  {"id", OptionValue::from_text(id)},
                  {"path", OptionValue::from_text(std::string(spec.substr(5)))}};
    return chardev_add(std::move(opts), OptionSource::CommandLine);
  }
  if (spec.starts_with("unix:")) return with_rest("socket", spec.substr(5), "path");
  if (spec.starts_with("tcp:")) {
    // tcp:HOST:PORT[,options]; HOST may be empty (all addresses), PORT may not.
    std::string_view rest = spec.substr(4);
    size_t colon = rest.find(':');
    size_t comma = rest.find(',', colon == std::string_view::npos ? 0 : colon);
    std::string_view port = colon == std::string_view::npos ? std::string_view{}
                                                            : rest.substr(colon + 1, comma == std::string_view::npos
                                                                                         ? std::string_view::npos
                                                                                         : comma - colon - 1);
    if (colon == std::string_view::npos || port.empty() || colon > 64 || port.size() > 32)
      return Error::format("parse error: {}", spec);
    OptionList opts;
    if (comma != std::string_view::npos) {
      NN_ASSIGN_OR_RETURN(opts, parse_keyval(rest.substr(comma + 1), ""));
    }
    opts.items.insert(opts.items.begin(), {{"backend", OptionValue::from_text("socket")},
                                           {"id", OptionValue::from_text(id)},
                                           {"host", OptionValue::from_text(std::string(rest.substr(0, colon)))},
                                           {"port", OptionValue::from_text(std::string(port))}});
    return chardev_add(std::move(opts), OptionSource::CommandLine);
  }
  return Error::format("'{}' is not a valid char driver", spec.substr(0, spec.find(':')));
}

Chardev* find_chardev(std::string_view id) { return object_cast<Chardev>(chardevs_container().child(id)); }

Status chardev_remove(std::string_view id) {
  Chardev* chr = find_chardev(id);
  if (!chr) return Error::format("Chardev '{}' not found", id);
  if (chr->attached()) return Error::format("Chardev '{}' is busy", id);
  chardevs_container().remove_child(id);
  return {};
}

std::string chardev_backend_help() {
  std::string out = "Available chardev backend types: \n";
  for (std::string_view b : kBackends) out += fmt::format("  {}\n", b);
  return out;
}

}  // namespace nahanni
