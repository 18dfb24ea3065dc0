// -qtest and -qtest-log: the qtest protocol server (system/qtest-server.h) attached to a chardev
// as its frontend. vl calls qtest_init() after the machine and accelerator exist, e.g. for
// "-qtest unix:/tmp/q.sock -qtest-log /dev/null":
//
//   if (auto st = qtest_init("unix:/tmp/q.sock", "/dev/null"); !st) { log::error(st.error()); exit(1); }
//
// With "-qtest chardev:ID" the chardev must have been created by -chardev before.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/error.h"

namespace nahanni {

class Chardev;

// `spec` as given to -qtest (chardev_add_compat syntax); `log` as given to -qtest-log: a file,
// "none", or nullopt when the option is absent (log to stderr). Only one qtest server may exist.
Status qtest_init(std::string_view spec, std::optional<std::string> log);
// The same on an existing chardev (qtest_init uses it; also for "-object qtest,chardev=ID").
Status qtest_start(Chardev& chr, std::optional<std::string> log);
// True once a qtest server exists (QEMU's qtest_enabled()).
bool qtest_enabled();
// Detaches and destroys the server (at exit, before the machine is torn down).
void qtest_stop();

}  // namespace nahanni
