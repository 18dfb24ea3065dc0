#include "monitor/events.h"

#include <nlohmann/json.hpp>

#include <map>

namespace nahanni {
namespace {

std::map<int, EventListener>& listeners() {
  static std::map<int, EventListener> l;
  return l;
}
int g_next_id = 1;

}  // namespace

void emit_event(const std::string& name, const nlohmann::json& data) {
  // Copy: a listener may remove itself (a monitor closing while it sends).
  auto snapshot = listeners();
  for (auto& [id, listener] : snapshot) listener(name, data);
}

int add_event_listener(EventListener listener) {
  int id = g_next_id++;
  listeners().emplace(id, std::move(listener));
  return id;
}

void remove_event_listener(int id) { listeners().erase(id); }

}  // namespace nahanni
