// Bounded echoes of untrusted input (services/common/echo.h).
#include "services/common/echo.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tally::common {
namespace {

using ::testing::EndsWith;
using ::testing::StartsWith;

TEST(EchoTest, ShortTextIsWhole) {
  EXPECT_EQ(Echo("astana"), "astana");
  EXPECT_EQ(Echo(std::string(kMaxEchoBytes, 'x')),
            std::string(kMaxEchoBytes, 'x'));
  EXPECT_EQ(QuoteEcho("astana"), "\"astana\"");
  EXPECT_EQ(QuoteEcho(""), "\"\"");
}

TEST(EchoTest, LongTextIsCutAndMeasured) {
  const std::string huge(100 * 1024, 'x');
  EXPECT_EQ(Echo(huge), absl::StrCat(std::string(kMaxEchoBytes, 'x'),
                                     "... (102400 bytes)"));
  EXPECT_EQ(QuoteEcho(huge), absl::StrCat("\"", std::string(kMaxEchoBytes, 'x'),
                                          "\"... (102400 bytes)"));
  EXPECT_EQ(Echo(huge, 8), "xxxxxxxx... (102400 bytes)");
}

TEST(EchoTest, QuotesAndControlCharactersAreEscaped) {
  EXPECT_EQ(QuoteEcho("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
  EXPECT_EQ(QuoteEcho(std::string("\x01", 1)), "\"\\x01\"");
  // UTF-8 text passes unchanged.
  EXPECT_EQ(QuoteEcho("Алматы"), "\"Алматы\"");
}

TEST(EchoTest, EscapingCountsTowardsTheBound) {
  // 60 bytes that escape to 4 characters each: the quote holds at most
  // kMaxEchoBytes characters and says the text was cut.
  const std::string controls(60, '\x01');
  const std::string quoted = QuoteEcho(controls);
  EXPECT_LE(quoted.size(), kMaxEchoBytes + 2 + 20) << quoted;
  EXPECT_THAT(quoted, StartsWith("\"\\x01"));
  EXPECT_THAT(quoted, EndsWith("\"... (60 bytes)"));
  // Never half an escape.
  const std::string inside = quoted.substr(1, quoted.find("\"...") - 1);
  EXPECT_EQ(inside.size() % 4, 0u) << inside;
}

TEST(EchoTest, NeverCutsACharacterInTwo) {
  // Two-byte characters: a cut at an odd byte would split one.
  std::string cyrillic;
  while (cyrillic.size() < 3 * kMaxEchoBytes) cyrillic += "Ж";
  const std::string echoed = Echo(cyrillic);
  const std::string kept = echoed.substr(0, echoed.find("..."));
  EXPECT_LE(kept.size(), kMaxEchoBytes);
  EXPECT_EQ(kept.size() % 2, 0u);
  EXPECT_THAT(QuoteEcho(cyrillic), StartsWith("\"ЖЖ"));
  const std::string quoted = QuoteEcho(cyrillic);
  const std::string quoted_kept = quoted.substr(1, quoted.find("\"...") - 1);
  EXPECT_EQ(quoted_kept.size() % 2, 0u);
}

}  // namespace
}  // namespace tally::common
