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

#include "qom/object.h"
#include "util/fd.h"
#include "util/keyval.h"

namespace nahanni {

enum class ChardevEvent { Opened, Closed };

class Chardev : public Object {
 public:
  // One frontend at a time. `on_read` gets the bytes and the descriptors that arrived with them
  // (it may take ownership of any fd by moving it out of the vector).
  struct Frontend {
    std::function<void(std::span<const uint8_t> data, std::vector<UniqueFd>& fds)> on_read;
    std::function<void(ChardevEvent)> on_event;
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

 protected:
  // Backends call these from the event loop.
  void deliver(std::span<const uint8_t> data, std::vector<UniqueFd>& fds);
  void deliver_event(ChardevEvent event);

 private:
  Frontend frontend_;
  bool attached_ = false;
};

// -chardev BACKEND,id=ID,... (keyval) and chardev-add (QMP's nested form is converted by the caller).
Result<Chardev*> chardev_add(OptionList opts, OptionSource source);
// The legacy one-string form used by -qmp, -qtest, -serial, -monitor: "unix:PATH[,server=on,wait=off]",
// "tcp:HOST:PORT[,server=on]", "stdio", "null", "file:PATH", "chardev:ID" (an existing one).
Result<Chardev*> chardev_add_compat(std::string_view spec, std::string id);
Chardev* find_chardev(std::string_view id);
Status chardev_remove(std::string_view id);
// "-chardev help" text.
std::string chardev_backend_help();

}  // namespace nahanni
