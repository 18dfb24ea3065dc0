// A QMP monitor: the frontend of one chardev (-qmp, -mon chardev=ID,mode=control). It greets
// each client on connect, answers one reply line ("\r\n"-terminated) per request, and, once the
// client has negotiated capabilities, forwards every event (monitor/events.h) between replies.
// Several monitors may run at once, each with its own negotiation state.
#pragma once

#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

#include "monitor/json-stream.h"
#include "monitor/qmp.h"
#include "util/error.h"
#include "util/fd.h"

namespace nahanni {

class Chardev;

class Monitor {
 public:
  Monitor(Chardev& chr, bool pretty);
  ~Monitor();
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Takes the chardev as its frontend ("Chardev 'ID' is busy" otherwise) and greets a client
  // that is already connected (a client socket, stdio).
  Status attach();
  Chardev& chardev() const { return chr_; }
  bool negotiated() const { return session_.negotiated(); }

  // The chardev callbacks, public so tests can drive a monitor directly.
  void receive(std::span<const uint8_t> data);
  void on_opened();
  void on_closed();

 private:
  void send(const nlohmann::ordered_json& message);
  void send_event(const std::string& name, const nlohmann::json& data);

  Chardev& chr_;
  bool pretty_;
  bool attached_ = false;
  bool session_open_ = false;
  JsonStreamSplitter splitter_;
  QmpSession session_;
  int event_listener_ = 0;
};

// The QEMU version nahanni reports (greeting, query-version, "info version"); see
// docs/system/qmp.rst for why.
inline constexpr int kQmpVersionMajor = 7;
inline constexpr int kQmpVersionMinor = 2;
inline constexpr int kQmpVersionMicro = 0;
// {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": "nahanni 0.1.0"}
nlohmann::json qmp_version_info();

// Starts a QMP monitor on `chr` (qmp-pretty: indented output). The monitor lives until
// monitor_cleanup() (call it before the chardevs are destroyed) or process exit.
Status monitor_start(Chardev& chr, bool pretty = false);
// Detaches and destroys every monitor.
void monitor_cleanup();

}  // namespace nahanni
