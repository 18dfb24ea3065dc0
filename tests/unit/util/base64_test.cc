// Base64 as the qtest protocol's b64read/b64write use it (RFC 4648, padded).
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "util/base64.h"

namespace nahanni {
namespace {

std::vector<uint8_t> bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Base64, rfc4648_test_vectors_encode) {
  EXPECT_EQ(base64_encode(bytes("")), "");
  EXPECT_EQ(base64_encode(bytes("f")), "Zg==");
  EXPECT_EQ(base64_encode(bytes("fo")), "Zm8=");
  EXPECT_EQ(base64_encode(bytes("foo")), "Zm9v");
  EXPECT_EQ(base64_encode(bytes("foob")), "Zm9vYg==");
  EXPECT_EQ(base64_encode(bytes("fooba")), "Zm9vYmE=");
  EXPECT_EQ(base64_encode(bytes("foobar")), "Zm9vYmFy");
}

TEST(Base64, rfc4648_test_vectors_decode) {
  EXPECT_EQ(base64_decode(""), bytes(""));
  EXPECT_EQ(base64_decode("Zg=="), bytes("f"));
  EXPECT_EQ(base64_decode("Zm8="), bytes("fo"));
  EXPECT_EQ(base64_decode("Zm9v"), bytes("foo"));
  EXPECT_EQ(base64_decode("Zm9vYg=="), bytes("foob"));
  EXPECT_EQ(base64_decode("Zm9vYmE="), bytes("fooba"));
  EXPECT_EQ(base64_decode("Zm9vYmFy"), bytes("foobar"));
}

TEST(Base64, high_bytes_use_plus_and_slash) {
  std::vector<uint8_t> data = {0xfb, 0xff, 0xbf};
  EXPECT_EQ(base64_encode(data), "+/+/");
  EXPECT_EQ(base64_decode("+/+/"), data);
  EXPECT_EQ(base64_encode(std::vector<uint8_t>{0, 0, 0}), "AAAA");
}

TEST(Base64, every_byte_value_round_trips_at_every_length) {
  std::vector<uint8_t> all(256);
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<uint8_t>(i);
  for (size_t len = 0; len <= all.size(); ++len) {
    std::span<const uint8_t> part(all.data(), len);
    std::string text = base64_encode(part);
    EXPECT_EQ(text.size(), (len + 2) / 3 * 4);
    auto back = base64_decode(text);
    ASSERT_TRUE(back.has_value()) << len;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), part.begin(), part.end())) << len;
  }
}

TEST(Base64, malformed_text_is_rejected) {
  for (std::string_view t : {"Z", "Zg", "Zg=", "Zm9vY", "Zm9*", "Zm9v\n", " Zm9v", "Zg==Zm9v", "Z===", "====",
                             "Zg=a", "Zm-_", "Zm9v===="})
    EXPECT_EQ(base64_decode(t), std::nullopt) << t;
}

}  // namespace
}  // namespace nahanni
