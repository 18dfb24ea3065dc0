// Sizes as QEMU spells them ("1M", "1.5G", "0x100000"). Accepted/rejected spellings were checked
// with qemu-system-x86_64 7.2 -object memory-backend-ram,id=m,size=X.
#include <gtest/gtest.h>

#include <cstdint>

#include "util/size.h"

namespace nahanni {
namespace {

constexpr uint64_t KiB = uint64_t{1} << 10, MiB = uint64_t{1} << 20, GiB = uint64_t{1} << 30,
                   TiB = uint64_t{1} << 40, PiB = uint64_t{1} << 50, EiB = uint64_t{1} << 60;

struct Good {
  const char* text;
  uint64_t bytes;
};

const Good kGood[] = {
    {"0", 0},
    {"1", 1},
    {"4096", 4096},
    {"1b", 1},
    {"1B", 1},
    {"1k", KiB},
    {"1K", KiB},
    {"2k", 2 * KiB},
    {"1m", MiB},
    {"1M", MiB},
    {"64M", 64 * MiB},
    {"1g", GiB},
    {"1G", GiB},
    {"1t", TiB},
    {"1T", TiB},
    {"1p", PiB},
    {"1P", PiB},
    {"1E", EiB},
    {"1e", EiB},  // 'e' is the exbibyte suffix, not an exponent
    {"15E", 15 * EiB},
    {"0k", 0},
    {"1.5M", MiB + MiB / 2},
    {"1.5k", 1536},
    {"0.5k", 512},
    {"1.5e", EiB + EiB / 2},
    {"1.", 1},          // an empty fraction is a whole number
    {"1.0", 1},         // a zero fraction needs no suffix
    {"1.00", 1},
    {"0.0", 0},
    {"1.0B", 1},
    {"1.M", MiB},
    {"1.k", KiB},
    {"0x100000", MiB},
    {"0X10", 16},
    {"0xffffffffffffffff", UINT64_MAX},
    {"0x00000000000000001", 1},  // leading zeros do not count towards 64 bits
    {"010", 10},  // a leading 0 is not octal
    {"08", 8},
    {" 1M", MiB},  // leading blanks and '+' are read as strtoull reads them
    {"+1M", MiB},
    {" +1M", MiB},
    {"+0x10", 16},
    {" 0x10", 16},
    {"18446744073709551615", UINT64_MAX},
    {"17179869183G", 17179869183 * GiB},
    {"16383P", 16383 * PiB},
};

TEST(Size, accepted_spellings_give_exact_byte_counts) {
  for (const Good& row : kGood) {
    std::optional<uint64_t> v = parse_size(row.text);
    ASSERT_TRUE(v.has_value()) << "'" << row.text << "'";
    EXPECT_EQ(*v, row.bytes) << "'" << row.text << "'";
  }
}

TEST(Size, fractions_are_truncated_to_whole_bytes) {
  // The reference (QEMU master) truncates; QEMU 7.2 rounds to nearest (1.9999k gave 2048 there).
  EXPECT_EQ(parse_size("1.9999k"), 2047u);
  EXPECT_EQ(parse_size("1.0001k"), 1024u);
  EXPECT_EQ(parse_size("0.0001k"), 0u);
  EXPECT_EQ(parse_size("1.1B"), std::nullopt);
}

const char* const kBad[] = {
    "",        // empty
    "k",       // suffix without number
    "M",
    "1Q",      // unknown suffix
    "1KiB",    // only single-letter suffixes
    "1MB",
    "1kk",
    "1.5kk",
    "1e3",     // exponents are not sizes
    "1e-3",
    "1.5",     // a nonzero fraction needs a multiplier suffix
    "0.1",
    "1.5B",
    "2.50B",
    ".5M",     // a fraction needs its whole part
    "1..5M",
    "1.5.5M",
    "1,5M",
    "-1",      // negative, including -0
    "-0",
    "- 1",
    "+-1",
    "++1",
    "16E",     // overflow
    "16384P",
    "17179869184G",
    "18446744073709551616",
    "1111111111111111111111111",
    "0x10000000000000000",
    "0x",      // hex needs digits, allows no fraction and (QEMU master) no suffix
    "0xg",
    "0x1.8",
    "0x20M",
    "0x1g",
    "00x10",
    "0b1",
    "inf",
    "nan",
    "1M ",     // trailing blanks
    "0x10 ",
    "1.5 M",
    "1.5x",
};

TEST(Size, rejected_spellings) {
  for (const char* text : kBad) EXPECT_EQ(parse_size(text), std::nullopt) << "'" << text << "'";
}

TEST(Size, hex_with_suffix_is_rejected_although_qemu_7_2_only_warns) {
  // 7.2 accepts 0x20M with "warning: Using a multiplier suffix on hex numbers is deprecated";
  // later QEMU (and the reference) reject it, and so do we.
  EXPECT_EQ(parse_size("0x20M"), std::nullopt);
  EXPECT_EQ(parse_size("0x20"), 32u);
}

TEST(Size, default_unit_applies_to_numbers_without_suffix) {
  EXPECT_EQ(parse_size("512", MiB), 512 * MiB);
  EXPECT_EQ(parse_size("1G", MiB), GiB);
  EXPECT_EQ(parse_size("4096B", MiB), 4096u);
  EXPECT_EQ(parse_size("219136k", MiB), 219136 * KiB);  // libvirt's -m size=219136k
  EXPECT_EQ(parse_size("1.0", MiB), MiB);
  // QEMU 7.2: -m 1.5 is rejected (the option is first checked as a byte size).
  EXPECT_EQ(parse_size("1.5", MiB), std::nullopt);
}

TEST(Size, default_unit_overflow_is_rejected) {
  EXPECT_EQ(parse_size("17592186044415", MiB), 17592186044415 * MiB);
  EXPECT_EQ(parse_size("17592186044416", MiB), std::nullopt);
}

TEST(Size, format_size_picks_the_largest_whole_unit) {
  EXPECT_EQ(format_size(0), "0 B");
  EXPECT_EQ(format_size(300), "300 B");
  EXPECT_EQ(format_size(1023), "1023 B");
  EXPECT_EQ(format_size(KiB), "1 KiB");
  EXPECT_EQ(format_size(1536), "1.5 KiB");
  EXPECT_EQ(format_size(4 * MiB), "4 MiB");
  EXPECT_EQ(format_size(GiB + GiB / 2), "1.5 GiB");
  EXPECT_EQ(format_size(EiB), "1 EiB");
}

TEST(Size, is_power_of_2) {
  EXPECT_FALSE(is_power_of_2(0));
  EXPECT_TRUE(is_power_of_2(1));
  EXPECT_TRUE(is_power_of_2(4 * MiB));
  EXPECT_FALSE(is_power_of_2(3 * MiB));
  EXPECT_TRUE(is_power_of_2(uint64_t{1} << 63));
  EXPECT_FALSE(is_power_of_2(UINT64_MAX));
}

}  // namespace
}  // namespace nahanni
