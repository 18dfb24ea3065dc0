// Shared between the chardev backends and chardev_add; not part of the public interface.
#pragma once

#include <string>
#include <string_view>

#include "chardev/char.h"

namespace nahanni {

inline constexpr std::string_view kChardevType = "chardev";

// The descriptor an fd= option names: a number on the command line, a getfd name over QMP.
Result<UniqueFd> chardev_take_fd(std::string_view text, OptionSource source);

// QemuOpts-style typed readers for the -chardev option table (values were checked by
// chardev_add, so these only convert).
bool chardev_opt_bool(const OptionList& opts, std::string_view key, bool def);
uint64_t chardev_opt_number(const OptionList& opts, std::string_view key, uint64_t def);
std::optional<std::string> chardev_opt_string(const OptionList& opts, std::string_view key);

}  // namespace nahanni
