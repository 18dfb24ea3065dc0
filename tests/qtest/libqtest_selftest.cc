// libqtest's own parts that need no emulator: QMP stream framing and child-process handling.
#include <gtest/gtest.h>

#include <signal.h>

#include "json-stream.h"
#include "process.h"

namespace nahanni::qtest {
namespace {

TEST(JsonStream, cuts_objects_whatever_the_framing) {
  JsonStream s;
  s.feed("{\"QMP\": {\"a\": [1, {\"b\": 2}]}}\r\n{\"ret");
  EXPECT_EQ(s.next(), "{\"QMP\": {\"a\": [1, {\"b\": 2}]}}");
  EXPECT_EQ(s.next(), std::nullopt);
  s.feed("urn\": {}}{\"event\": \"X\"}");
  EXPECT_EQ(s.next(), "{\"return\": {}}");
  EXPECT_EQ(s.next(), "{\"event\": \"X\"}");
  EXPECT_EQ(s.next(), std::nullopt);
}

TEST(JsonStream, braces_inside_strings_do_not_count) {
  JsonStream s;
  s.feed("{\"desc\": \"a } b \\\" { c\"}\n");
  EXPECT_EQ(s.next(), "{\"desc\": \"a } b \\\" { c\"}");
}

TEST(JsonStream, junk_between_values_is_skipped) {
  JsonStream s;
  s.feed("\n\n  garbage {\"x\": 1}");
  EXPECT_EQ(s.next(), "{\"x\": 1}");
}

TEST(Process, run_command_captures_status_and_output) {
  RunResult r = run_command("/bin/sh -c 'echo out; echo err >&2; exit 3'");
  EXPECT_EQ(r.status, (ExitStatus{.exited = true, .code = 3}));
  EXPECT_EQ(r.out, "out\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.status.describe(), "exit status 3");
}

TEST(Process, run_command_kills_after_the_timeout) {
  RunResult r = run_command("sleep 30", std::chrono::milliseconds(200));
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.status, (ExitStatus{.exited = false, .code = 0, .signal = SIGKILL}));
  EXPECT_EQ(r.status.describe(), "killed by signal 9");
}

TEST(Process, terminate_uses_sigkill_on_a_child_ignoring_sigterm) {
  ChildProcess c = ChildProcess::spawn("/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.05; done'");
  // Give the shell time to install its trap; the test asserts the outcome, not a duration.
  c.wait_for(std::chrono::milliseconds(300));
  bool killed = false;
  ExitStatus s = c.terminate(std::chrono::milliseconds(300), &killed);
  EXPECT_TRUE(killed);
  EXPECT_EQ(s.signal, SIGKILL);
  EXPECT_FALSE(c.running());
}

TEST(Process, terminate_without_sigkill_when_sigterm_works) {
  ChildProcess c = ChildProcess::spawn("sleep 30");
  bool killed = true;
  ExitStatus s = c.terminate(std::chrono::seconds(10), &killed);
  EXPECT_FALSE(killed);
  EXPECT_EQ(s.signal, SIGTERM);
}

}  // namespace
}  // namespace nahanni::qtest
