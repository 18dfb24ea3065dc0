#include "monitor/monitor.h"

#include <sys/time.h>

#include <memory>

#include "chardev/char.h"
#include "monitor/events.h"

// Set by the build from the project version; the fallback keeps a bare compile working.
#ifndef NAHANNI_VERSION
#define NAHANNI_VERSION "0.1.0"
#endif

namespace nahanni {
namespace {

std::vector<std::unique_ptr<Monitor>>& monitors() {
  static std::vector<std::unique_ptr<Monitor>> list;
  return list;
}

}  // namespace

nlohmann::json qmp_version_info() {
  nlohmann::ordered_json qemu{{"major", kQmpVersionMajor}, {"minor", kQmpVersionMinor}, {"micro", kQmpVersionMicro}};
  return nlohmann::json{{"qemu", qemu}, {"package", "nahanni " NAHANNI_VERSION}};
}

Monitor::Monitor(Chardev& chr, bool pretty) : chr_(chr), pretty_(pretty) {
  event_listener_ = add_event_listener(
      [this](const std::string& name, const nlohmann::json& data) { send_event(name, data); });
}

Monitor::~Monitor() {
  remove_event_listener(event_listener_);
  if (attached_) chr_.detach();
}

Status Monitor::attach() {
  NN_TRY(chr_.attach(Chardev::Frontend{
      .on_read = [this](std::span<const uint8_t> data, std::vector<UniqueFd>&) { receive(data); },
      .on_event =
          [this](ChardevEvent e) {
            if (e == ChardevEvent::Opened) {
              on_opened();
            } else {
              on_closed();
            }
          }}));
  attached_ = true;
  if (chr_.connected()) on_opened();  // no-op when attach already reported the connection
  return {};
}

void Monitor::on_opened() {
  if (session_open_) return;
  session_open_ = true;
  splitter_.reset();
  session_.reset();
  // The same shape as query-version; no capabilities: nahanni has no out-of-band execution.
  nlohmann::ordered_json greeting{
      {"QMP", {{"version", nlohmann::ordered_json(qmp_version_info())}, {"capabilities", nlohmann::ordered_json::array()}}}};
  send(greeting);
}

void Monitor::on_closed() {
  session_open_ = false;
  splitter_.reset();
  session_.reset();
}

void Monitor::receive(std::span<const uint8_t> data) {
  std::vector<JsonStreamItem> items;
  splitter_.feed(data, items);
  for (const JsonStreamItem& item : items) {
    if (item.is_error) {
      send(qmp_error_reply(Error(item.text)));
    } else {
      send(session_.handle_text(item.text));
    }
  }
}

void Monitor::send(const nlohmann::ordered_json& message) {
  std::string line = qmp_format(message, pretty_);
  line += "\r\n";
  chr_.write_all(line);  // false when the client has gone: nothing to do
}

void Monitor::send_event(const std::string& name, const nlohmann::json& data) {
  if (!session_open_ || !session_.negotiated()) return;
  timeval tv{};
  ::gettimeofday(&tv, nullptr);
  nlohmann::ordered_json event{
      {"timestamp", {{"seconds", static_cast<int64_t>(tv.tv_sec)}, {"microseconds", static_cast<int64_t>(tv.tv_usec)}}},
      {"event", name}};
  if (!data.is_null()) event["data"] = nlohmann::ordered_json(data);
  send(event);
}

Status monitor_start(Chardev& chr, bool pretty) {
  auto mon = std::make_unique<Monitor>(chr, pretty);
  NN_TRY(mon->attach());
  monitors().push_back(std::move(mon));
  return {};
}

void monitor_cleanup() { monitors().clear(); }

}  // namespace nahanni
