// The "qtest" accelerator: no CPUs; a test drives the machine through the qtest protocol, and
// QEMU_CLOCK_VIRTUAL moves only on clock_step/clock_set. MSIs have nowhere to go without a CPU, so
// they are recorded for the test to read with the msi_* qtest commands (a nahanni extension).
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <vector>

#include "system/accel.h"

namespace nahanni {

struct MsiMessage {
  uint64_t address;
  uint32_t data;
};

// The MSIs delivered since the last clear; the count keeps growing past the bound of the list.
class MsiLog {
 public:
  static constexpr size_t kMaxKept = 4096;

  void record(uint64_t address, uint32_t data);
  uint64_t count() const;
  std::optional<MsiMessage> last() const;
  std::vector<MsiMessage> messages() const;
  void clear();

 private:
  mutable std::mutex mutex_;
  uint64_t count_ = 0;
  std::vector<MsiMessage> messages_;
};

class QtestAccel : public Accelerator {
 public:
  Status init(Machine& machine) override;
  void deliver_msi(uint64_t address, uint32_t data) override { msis_.record(address, data); }
  MsiLog& msis() { return msis_; }

 private:
  MsiLog msis_;
};

inline constexpr std::string_view kQtestAccelType = "qtest-accel";

// The qtest accelerator when it is the current one, else null.
QtestAccel* current_qtest_accel();

}  // namespace nahanni
