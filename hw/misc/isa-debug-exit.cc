// isa-debug-exit (QEMU's test device): a guest write of value V to its port range ends the
// emulator with exit status (V << 1) | 1, so a test guest reports success or failure through
// the process status. Odd statuses only: 0 stays distinguishable as "ended another way".
//   -device isa-debug-exit,iobase=0xf4,iosize=0x04
#include <memory>

#include "hw/isa/isa-bus.h"
#include "qom/property.h"
#include "qom/type.h"
#include "system/memory.h"
#include "system/runstate.h"

namespace nahanni {
namespace {

class IsaDebugExit : public IsaDevice {
 public:
  uint32_t iobase_ = 0x501;
  uint32_t iosize_ = 2;

 protected:
  Status do_realize() override {
    IsaBus* bus = isa_bus();
    if (!bus) return Error("isa-debug-exit needs an ISA bus");
    if (iosize_ == 0 || iosize_ > 4 || uint64_t{iobase_} + iosize_ > 0x10000)
      return Error::format("isa-debug-exit: iobase 0x{:x} and iosize {} leave the I/O port space", iobase_, iosize_);
    region_ = MemoryRegion::io("isa-debug-exit", iosize_,
                               MemoryRegionOps{.read = [](uint64_t, unsigned) -> uint64_t { return 0; },
                                               .write = [](uint64_t, uint64_t v, unsigned) {
                                                 request_exit(static_cast<int>((v << 1) | 1));
                                               },
                                               .min_access = 1,
                                               .max_access = 4});
    bus->io().add_subregion(iobase_, region_.get());
    return {};
  }
  void do_unrealize() override {
    if (region_) isa_bus()->io().del_subregion(region_.get());
    region_.reset();
  }

 private:
  std::unique_ptr<MemoryRegion> region_;
};

const TypeRegistration kIsaDebugExit{TypeInfo{
    .name = "isa-debug-exit",
    .parent = std::string(kDeviceType),
    .description = "ISA debug exit device: a write of V ends the emulator with status (V << 1) | 1",
    .factory = make_factory<IsaDebugExit>(),
    .properties = {uint_property<IsaDebugExit, uint32_t>("iobase", &IsaDebugExit::iobase_, "", 0x501),
                   uint_property<IsaDebugExit, uint32_t>("iosize", &IsaDebugExit::iosize_, "", 2)},
    .category = "Misc devices",
    .bus_type = "ISA",
    .hotpluggable = false}};

}  // namespace
}  // namespace nahanni
