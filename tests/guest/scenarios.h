// The named steps a command line runs in order (docs/devel/test-guest.rst lists them).
#pragma once

#include "command-line.h"
#include "ivshmem-device.h"

namespace nahanni::guest {

struct GuestContext {
  IvshmemDevice* device = nullptr;  // set up on first use by a step that needs it
  uint64_t sync_offset = 0;         // shared-memory offset of the sync slots
  uint64_t sync_generation = 0;
  int own_id = -1;                  // IVPosition, read at set-up
  bool intx_ready = false;          // wait-intx programmed the IOAPIC and IntrMask
};

struct Scenario {
  const char* name;
  bool needs_device;
  const char* keys;  // the words it takes, space-separated (key= or bare flag)
  void (*run)(const Step& step, GuestContext& ctx);

  bool accepts(const char* key) const;
};

// The table of steps, terminated by a null name.
extern const Scenario kScenarios[];
const Scenario* find_scenario(const char* name);

}  // namespace nahanni::guest
