#include "accel/qtest-accel.h"

#include "qom/type.h"

namespace nahanni {

namespace {

const TypeRegistration kQtestAccelType_{TypeInfo{
    .name = std::string(kQtestAccelType),
    .parent = std::string(kAccelType),
    .description = "qtest accelerator: no CPUs, the machine is driven by the qtest protocol",
    .factory = make_factory<QtestAccel>(),
    .user_creatable = false,
}};

}  // namespace

void MsiLog::record(uint64_t address, uint32_t data) {
  std::lock_guard lock(mutex_);
  ++count_;
  if (messages_.size() < kMaxKept) messages_.push_back({address, data});
  else messages_.back() = {address, data};  // keep the latest once full
}

uint64_t MsiLog::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

std::optional<MsiMessage> MsiLog::last() const {
  std::lock_guard lock(mutex_);
  if (messages_.empty()) return std::nullopt;
  return messages_.back();
}

std::vector<MsiMessage> MsiLog::messages() const {
  std::lock_guard lock(mutex_);
  return messages_;
}

void MsiLog::clear() {
  std::lock_guard lock(mutex_);
  count_ = 0;
  messages_.clear();
}

Status QtestAccel::init(Machine& machine) {
  (void)machine;  // nothing to set up: no vCPUs, no kernel objects
  return {};
}

QtestAccel* current_qtest_accel() { return dynamic_cast<QtestAccel*>(current_accel()); }

}  // namespace nahanni
