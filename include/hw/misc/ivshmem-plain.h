#pragma once

#include "hw/misc/ivshmem-common.h"

namespace nahanni {

class HostMemoryBackend;

class IvshmemPlain : public IvshmemCommon {
 public:
  HostMemoryBackend* memdev_ = nullptr;

 protected:
  Status do_realize() override;
  void do_unrealize() override;
};

}  // namespace nahanni
