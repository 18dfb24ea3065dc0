// The main() of every GoogleTest binary. GTEST_SKIP leaves the exit status at 0, which meson
// reads as a pass: a machine without /dev/kvm or Debian's QEMU would show a green run that
// tested nothing. When every test that ran was skipped, exit 77, which meson reports as SKIP.
#include <gtest/gtest.h>

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  int status = RUN_ALL_TESTS();
  const testing::UnitTest& unit = *testing::UnitTest::GetInstance();
  constexpr int kSkipped = 77;  // GNU/meson convention
  if (status == 0 && unit.test_to_run_count() > 0 && unit.skipped_test_count() == unit.test_to_run_count())
    return kSkipped;
  return status;
}
