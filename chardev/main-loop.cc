#include "system/main-loop.h"

namespace nahanni {

EventLoop& main_loop() {
  // Never destroyed: objects torn down by other statics at exit (the QOM tree's chardevs) still
  // unregister their watches from it, whatever the destruction order of statics.
  union NeverDestroyed {
    NeverDestroyed() : loop() {}
    ~NeverDestroyed() {}
    EventLoop loop;
  };
  static NeverDestroyed holder;
  return holder.loop;
}

}  // namespace nahanni
