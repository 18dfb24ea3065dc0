// qdev: a Device is an Object that is realized (brought to life, with its resources) after its
// properties are set, plugged into a Bus, reset with the machine, and unrealized on removal.
#pragma once

#include <optional>
#include <string>

#include "qom/object.h"

namespace nahanni {

class Bus;

class Device : public Object {
 public:
  Status realize();
  void unrealize();
  bool realized() const { return realized_; }
  virtual void reset() {}

  Bus* parent_bus() const { return parent_bus_; }
  void set_parent_bus(Bus* bus) { parent_bus_ = bus; }
  bool hotplugged() const { return hotplugged_; }
  void set_hotplugged(bool h) { hotplugged_ = h; }
  // device_del has been asked and the guest has not ejected yet.
  bool unplug_pending() const { return unplug_pending_; }
  void set_unplug_pending(bool p) { unplug_pending_ = p; }

  // The id given by the user (empty for anonymous devices).
  const std::string& id() const { return id_; }
  void set_id(std::string id) { id_ = std::move(id); }

  std::optional<Error> property_change_refused(std::string_view name) const override;

 protected:
  virtual Status do_realize() { return {}; }
  virtual void do_unrealize() {}

 private:
  Bus* parent_bus_ = nullptr;
  bool realized_ = false;
  bool hotplugged_ = false;
  bool unplug_pending_ = false;
  std::string id_;
};

inline constexpr std::string_view kDeviceType = "device";

}  // namespace nahanni
