// The emulator's main event loop: chardevs, monitors, qtest and device eventfds all run on it.
#pragma once

#include "util/event-loop.h"

namespace nahanni {

EventLoop& main_loop();

}  // namespace nahanni
