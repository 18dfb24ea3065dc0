// QMP events: any part of the emulator emits one; every monitor past negotiation sends it.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <functional>
#include <string>

namespace nahanni {

using EventListener = std::function<void(const std::string& name, const nlohmann::json& data)>;

// `data` may be null for events without data.
void emit_event(const std::string& name, const nlohmann::json& data);
// Returns an id for remove_event_listener.
int add_event_listener(EventListener listener);
void remove_event_listener(int id);

}  // namespace nahanni
