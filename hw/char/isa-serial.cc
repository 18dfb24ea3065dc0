// isa-serial: the 16550A UART on the ISA bus, with a chardev as its other end.
//   -chardev socket,id=s0,path=/tmp/console.sock,server=on,wait=off -device isa-serial,chardev=s0
// index N picks COM(N+1)'s standard port and IRQ (0x3f8/4, 0x2f8/3, 0x3e8/4, 0x2e8/3) unless
// iobase/irq are given; without index the lowest free one is taken. -serial creates these.
#include "hw/char/isa-serial.h"

#include "chardev/char.h"
#include "qom/property.h"
#include "qom/type.h"

namespace nahanni {
namespace {
constexpr uint32_t kUnset = UINT32_MAX;
constexpr uint32_t kStandardPorts[IsaSerial::kMaxPorts] = {0x3f8, 0x2f8, 0x3e8, 0x2e8};
constexpr uint32_t kStandardIrqs[IsaSerial::kMaxPorts] = {4, 3, 4, 3};
}  // namespace

IsaSerial::IsaSerial()
    : index_(kUnset),
      iobase_(kUnset),
      irq_(kUnset),
      uart_(Serial16550::Hooks{.transmit = [this](uint8_t b) {
                                 if (chardev_) chardev_->write_all(std::span<const uint8_t>(&b, 1));
                               },
                               .set_irq = [this](int level) {
                                 if (IsaBus* bus = isa_bus(); bus && realized()) bus->set_irq(irq_, level);
                               }}) {}

IsaSerial::~IsaSerial() = default;

Status IsaSerial::do_realize() {
  IsaBus* bus = isa_bus();
  if (!bus) return Error("isa-serial needs an ISA bus");
  if (index_ == kUnset) {
    for (uint32_t i = 0; i < kMaxPorts && index_ == kUnset; ++i) {
      bool used = false;
      for (Device* d : bus->devices())
        if (auto* s = dynamic_cast<IsaSerial*>(d); s && s != this && s->realized() && s->index_ == i) used = true;
      if (!used) index_ = i;
    }
  }
  if (index_ >= kMaxPorts) return Error::format("Max. supported number of ISA serial ports is {}.", kMaxPorts);
  if (iobase_ == kUnset) iobase_ = kStandardPorts[index_];
  if (irq_ == kUnset) irq_ = kStandardIrqs[index_];
  if (irq_ >= IsaBus::kIrqs) return Error::format("isa irq {} invalid", irq_);
  if (iobase_ + 8 > 0x10000) return Error::format("isa-serial: iobase 0x{:x} is outside the I/O port space", iobase_);

  if (!chardev_id_.empty()) {
    Chardev* chr = find_chardev(chardev_id_);
    if (!chr) return Error::format("Property 'isa-serial.chardev' can't find value '{}'", chardev_id_);
    if (chr->attached())
      return Error::format("Property 'isa-serial.chardev' can't take value '{}', it's in use", chardev_id_);
    NN_TRY(chr->attach(Chardev::Frontend{.on_read = [this](std::span<const uint8_t> data, std::vector<UniqueFd>&) {
                                           std::lock_guard lock(mutex_);
                                           uart_.receive(data);
                                         },
                                         .on_event = nullptr}));
    chardev_ = chr;
  }
  region_ = MemoryRegion::io("serial", 8,
                             MemoryRegionOps{.read = [this](uint64_t off, unsigned) -> uint64_t {
                                               std::lock_guard lock(mutex_);
                                               return uart_.read(static_cast<unsigned>(off));
                                             },
                                             .write = [this](uint64_t off, uint64_t v, unsigned) {
                                               std::lock_guard lock(mutex_);
                                               uart_.write(static_cast<unsigned>(off), static_cast<uint8_t>(v));
                                             },
                                             .min_access = 1,
                                             .max_access = 1});
  bus->io().add_subregion(iobase_, region_.get());
  return {};
}

void IsaSerial::do_unrealize() {
  if (region_) isa_bus()->io().del_subregion(region_.get());
  region_.reset();
  if (chardev_) chardev_->detach();
  chardev_ = nullptr;
}

void IsaSerial::reset() {
  std::lock_guard lock(mutex_);
  uart_.reset();
}

namespace {

std::vector<PropertyInfo> serial_properties() {
  using S = IsaSerial;
  return {string_property<S>("chardev", &S::chardev_id_, "ID of a chardev to use as a backend"),
          uint_property<S, uint32_t>("index", &S::index_, "", kUnset),
          uint_property<S, uint32_t>("iobase", &S::iobase_, "", kUnset),
          uint_property<S, uint32_t>("irq", &S::irq_, "", kUnset),
          // Accepted for compatibility: transmission is instantaneous, so the clock changes nothing.
          uint_property<S, uint32_t>("baudbase", &S::baudbase_, "", 115200),
          bool_property<S>("wakeup", &S::wakeup_, "", false)};
}

const TypeRegistration kIsaSerial{TypeInfo{.name = "isa-serial",
                                           .parent = std::string(kDeviceType),
                                           .description = "16550A UART on the ISA bus",
                                           .factory = make_factory<IsaSerial>(),
                                           .properties = serial_properties(),
                                           .category = "Input devices",
                                           .bus_type = "ISA",
                                           .hotpluggable = false}};

}  // namespace
}  // namespace nahanni
