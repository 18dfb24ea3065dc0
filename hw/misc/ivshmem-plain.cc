// ivshmem-plain: shared memory from a memory backend, no interrupts.
//   -object memory-backend-file,id=m1,size=4M,share=on,mem-path=/dev/shm/relay
//   -device ivshmem-plain,memdev=m1
// A backend serves one device (a second user is an error, as in QEMU). A backend without
// share=on still works but shares nothing with other processes: QEMU accepts it silently and its
// own tests use it, so rejecting it would break working setups; nahanni warns instead.
#include "hw/misc/ivshmem-plain.h"

#include "backends/hostmem.h"
#include "qom/property.h"
#include "qom/type.h"
#include "util/log.h"

namespace nahanni {

Status IvshmemPlain::do_realize() {
  if (!memdev_) return Error("You must specify a 'memdev'");
  if (memdev_->in_use()) return Error::format("can't use already busy memdev: {}", memdev_->name());
  if (master_ == OnOffAuto::Auto) master_ = OnOffAuto::On;  // no server: this copy is the only one
  NN_TRY(realize_core(Config{.device_id = ivshmem::kDeviceIdPlain, .revision = ivshmem::kRevisionSplit,
                             .intx = false, .vectors = 0}));
  if (Status st = map_shared_memory(memdev_->host(), memdev_->size(), memdev_->fd(),
                                    "memdev '" + memdev_->name() + "'");
      !st) {
    unrealize_core();
    return st;
  }
  if (!memdev_->shared())
    log::warnf("memdev '{}' has share=off: the guest's memory is private to this process "
               "and shared with nobody; use share=on",
               memdev_->name());
  memdev_->set_in_use(true);
  return {};
}

void IvshmemPlain::do_unrealize() {
  unrealize_core();
  if (memdev_) memdev_->set_in_use(false);
}

namespace {

std::vector<PropertyInfo> plain_properties() {
  std::vector<PropertyInfo> props = ivshmem_common_properties(true);
  props.push_back(link_property<IvshmemPlain, HostMemoryBackend>("memdev", &IvshmemPlain::memdev_, "memory-backend"));
  return props;
}

const TypeRegistration kPlain{TypeInfo{.name = "ivshmem-plain",
                                       .parent = std::string(kIvshmemCommonType),
                                       .description = "Inter-VM shared memory",
                                       .factory = make_factory<IvshmemPlain>(),
                                       .properties = plain_properties(),
                                       .category = "Misc devices",
                                       .bus_type = "PCI"}};

}  // namespace
}  // namespace nahanni
