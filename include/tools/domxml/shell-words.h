// Shell quoting both ways: quote one argument so a POSIX shell (and xargs) reads it back
// unchanged, and split a text such as libvirt's .args files or our own output into words.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"

namespace nahanni::domxml {

// Leaves words made only of safe characters bare, as libvirt's .args files do
// ("socket,id=charshmem3,path=/tmp/s"); single-quotes the rest.
std::string shell_quote(std::string_view word);

// POSIX word splitting without expansion: blanks separate words; '...' is literal; "..."
// honours \\ \" \$ \` and backslash-newline; a bare backslash quotes the next character and
// backslash-newline joins lines; '#' at the start of a word comments to the end of the line.
Result<std::vector<std::string>> split_shell_words(std::string_view text);

}  // namespace nahanni::domxml
