// Shell quoting of our output and word splitting of command-line files.
#include <gtest/gtest.h>

#include "tools/domxml/shell-words.h"

namespace nahanni::domxml {
namespace {

std::vector<std::string> split(std::string_view text) {
  auto words = split_shell_words(text);
  return words ? *words : std::vector<std::string>{"ERROR: " + words.error().message()};
}

TEST(DomxmlShellWords, safe_words_stay_bare_like_libvirt_args_files) {
  EXPECT_EQ(shell_quote("socket,id=charshmem3,path=/var/lib/libvirt/shmem-shmem3-sock"),
            "socket,id=charshmem3,path=/var/lib/libvirt/shmem-shmem3-sock");
  EXPECT_EQ(shell_quote("-device"), "-device");
}

TEST(DomxmlShellWords, others_are_single_quoted) {
  EXPECT_EQ(shell_quote(R"({"a":1})"), R"('{"a":1}')");
  EXPECT_EQ(shell_quote("it's"), R"('it'\''s')");
  EXPECT_EQ(shell_quote(""), "''");
  EXPECT_EQ(shell_quote("a b"), "'a b'");
  EXPECT_EQ(shell_quote("~x"), "'~x'");
  EXPECT_EQ(shell_quote("$HOME"), "'$HOME'");
}

TEST(DomxmlShellWords, quoting_round_trips_through_splitting) {
  const std::vector<std::string> words = {"plain", "", "a b", "it's", R"({"k":"v,w"})", "tab\there", "new\nline",
                                          "back\\slash", "$x`y`", "\"dq\"", "#notcomment", "ü"};
  std::string line;
  for (const auto& w : words) line += shell_quote(w) + " ";
  EXPECT_EQ(split(line), words);
}

TEST(DomxmlShellWords, splitting_follows_posix_quoting) {
  EXPECT_EQ(split("a  'b c'  \"d \\\" \\$ \\x\" e\\ f"), (std::vector<std::string>{"a", "b c", "d \" $ \\x", "e f"}));
  EXPECT_EQ(split("-name x \\\n-S\n# a comment\n-m 1 # trailing\nq#r"),
            (std::vector<std::string>{"-name", "x", "-S", "-m", "1", "q#r"}));
  EXPECT_EQ(split("\"a\\\nb\""), std::vector<std::string>{"ab"});
  EXPECT_EQ(split("''"), std::vector<std::string>{""});
  EXPECT_EQ(split(""), std::vector<std::string>{});
}

TEST(DomxmlShellWords, unterminated_input_is_an_error) {
  EXPECT_EQ(split("'abc"), std::vector<std::string>{"ERROR: unterminated single quote"});
  EXPECT_EQ(split("\"abc"), std::vector<std::string>{"ERROR: unterminated double quote"});
  EXPECT_EQ(split("abc\\"), std::vector<std::string>{"ERROR: unexpected end of input after '\\'"});
}

}  // namespace
}  // namespace nahanni::domxml
