#include "system/qtest.h"

#include <memory>

#include "chardev/char.h"
#include "system/qtest-server.h"

namespace nahanni {

namespace {

struct QtestSession {
  Chardev* chr = nullptr;
  std::unique_ptr<QtestServer> server;
};

std::unique_ptr<QtestSession>& session() {
  static std::unique_ptr<QtestSession> s;
  return s;
}

}  // namespace

Status qtest_start(Chardev& chr, std::optional<std::string> log) {
  if (session()) return Error("Only one instance of qtest can be created");
  auto s = std::make_unique<QtestSession>();
  s->chr = &chr;
  Chardev* out = &chr;
  NN_ASSIGN_OR_RETURN(s->server,
                      QtestServer::create(qtest_default_target(),
                                          [out](std::string_view text) { out->write_all(text); },
                                          log ? std::string_view(*log) : std::string_view()));
  QtestServer* server = s->server.get();
  NN_TRY(chr.attach(Chardev::Frontend{
      .on_read = [server](std::span<const uint8_t> data, std::vector<UniqueFd>& fds) {
        fds.clear();  // qtest has no use for passed descriptors
        server->receive(data);
      },
      .on_event =
          [server](ChardevEvent event) {
            if (event == ChardevEvent::Opened) server->opened();
            else server->closed();
          },
  }));
  // A client chardev ("-qtest unix:PATH") is connected before we attach.
  if (chr.connected()) server->opened();
  session() = std::move(s);
  return {};
}

Status qtest_init(std::string_view spec, std::optional<std::string> log) {
  if (session()) return Error("Only one instance of qtest can be created");
  NN_ASSIGN_OR_RETURN(Chardev * chr, chardev_add_compat(spec, "qtest"));
  return qtest_start(*chr, std::move(log));
}

bool qtest_enabled() { return session() != nullptr; }

void qtest_stop() {
  auto& s = session();
  if (!s) return;
  s->chr->detach();
  s.reset();
}

}  // namespace nahanni
