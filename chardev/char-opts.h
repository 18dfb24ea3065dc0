// The -chardev option table: every key any backend knows, with its QemuOpts type. QEMU checks
// keys and values against the whole table before it looks at the backend, so "null,path=/x"
// is accepted while "null,foo=1" is "Invalid parameter 'foo'".
#pragma once

#include "util/keyval.h"

namespace nahanni {

// Checks every item in order; the first unknown key or badly typed value is the error.
Status chardev_check_options(const OptionList& opts);

}  // namespace nahanni
