// Character devices: byte streams (with passed descriptors where the transport allows) that
// frontends such as QMP, qtest and ivshmem-doorbell read from and write to. A chardev is a
// user-visible object ("-chardev socket,id=c0,path=/tmp/s") under /chardevs/<id>.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "qom/object.h"
#include "util/fd.h"
#include "util/keyval.h"

namespace nahanni {

// DescriptorsLost: the kernel dropped descriptors sent with the data delivered next (this
// process is out of descriptors, or the sender passed more than fit); sent before that data.
enum class ChardevEvent { Opened, Closed, DescriptorsLost };

class Chardev : public Object {
 public:
  // One frontend at a time. `on_read` gets the bytes and the descriptors that arrived with them
  // (it may take ownership of any fd by moving it out of the vector).
  struct Frontend {
    std::function<void(std::span<const uint8_t> data, std::vector<UniqueFd>& fds)> on_read;
    std::function<void(ChardevEvent)> on_event;
    // Largest chunk to read and deliver at once (0: no limit). A frontend parsing fixed-size
    // messages with descriptors sets its message size, so each descriptor arrives with exactly
    // the message it was sent with (the kernel hands fds out with the first read of their bytes).
    size_t max_read = 0;
  };

  // "Chardev 'ID' is busy" when another frontend holds it.
  Status attach(Frontend frontend);
  void detach();
  bool attached() const { return attached_; }

  // Writes everything (small control traffic: replies, events); false when not connected.
  virtual bool write_all(std::span<const uint8_t> data) = 0;
  bool write_all(std::string_view text) {
    return write_all(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }
  virtual bool connected() const = 0;
  virtual bool supports_fd_passing() const { return false; }
  // For handshakes that must finish before the guest runs (ivshmem-doorbell realize): reads what
  // is available within `timeout`, bypassing the event loop. Returns bytes read; 0 means the peer
  // closed; an Error on timeout or failure. Only valid while no frontend is attached.
  virtual Result<size_t> read_blocking(std::span<uint8_t> buf, std::vector<UniqueFd>& fds,
                                       std::chrono::milliseconds timeout);
  // Opens the backend (connects, listens, opens files); called once properties are set.
  Status complete() override = 0;
  // Reads the backend's own options (already type-checked against the -chardev option table
  // by chardev_add; keys meant for other backends are ignored, as QEMU does).
  virtual Status configure(const OptionList& opts) {
    (void)opts;
    return {};
  }

 protected:
  // Called after attach() and detach(); backends start or stop watching their input here.
  virtual void frontend_changed() {}
  size_t frontend_max_read() const { return frontend_.max_read; }
  // Whether this chardev was asked for on the command line or by chardev-add (fd= differs).
  OptionSource option_source() const { return source_; }

  // Backends call these from the event loop.
  void deliver(std::span<const uint8_t> data, std::vector<UniqueFd>& fds);
  void deliver_event(ChardevEvent event);

 private:
  friend Result<Chardev*> chardev_add(OptionList opts, OptionSource source);
  Frontend frontend_;
  bool attached_ = false;
  OptionSource source_ = OptionSource::CommandLine;
};

// -chardev BACKEND,id=ID,... (keyval) and chardev-add (QMP's nested form is converted by the caller).
// The caller prints opts.warnings and handles opts.help (see chardev_options_help).
// With OptionSource::Qmp, backend failures read "Failed to add chardev 'ID': ..." as in QEMU.
Result<Chardev*> chardev_add(OptionList opts, OptionSource source);
// chardev-add's arguments ({"id":..,"backend":{"type":..,"data":{..}}}) as the flat option list
// chardev_add takes, with QEMU's schema errors ("Parameter 'backend.data.addr' is missing").
// QMP's socket "server" defaults to true, unlike -chardev's.
Result<OptionList> chardev_options_from_qmp(const nlohmann::json& arguments);
// QMP's `{"type":"fd","data":{"str":NAME}}` names a descriptor passed earlier with getfd; the
// monitor installs the lookup (which hands over ownership). Without one, or when it fails:
// "File descriptor named 'NAME' has not been found".
void set_chardev_fd_lookup(std::function<Result<UniqueFd>(std::string_view name)> lookup);
// The legacy one-string form used by -qmp, -qtest, -serial, -monitor: "unix:PATH[,server=on,wait=off]",
// "tcp:HOST:PORT[,server=on]", "stdio", "null", "file:PATH", "chardev:ID" (an existing one).
Result<Chardev*> chardev_add_compat(std::string_view spec, std::string id);
Chardev* find_chardev(std::string_view id);
Status chardev_remove(std::string_view id);
// "-chardev help" text.
std::string chardev_backend_help();
// "-chardev socket,help" text: QEMU lists the whole -chardev option table.
std::string chardev_options_help();

}  // namespace nahanni
