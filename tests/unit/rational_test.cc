// Rational: exact comparison near the 64-bit limits, lowest terms, text.
#include "services/domain/rational.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace tally {
namespace {

constexpr uint64_t kTwo63 = uint64_t{1} << 63;
constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

TEST(RationalTest, EqualValuesCompareEqualInAnyTerms) {
  EXPECT_EQ((Rational{1, 2}), (Rational{2, 4}));
  EXPECT_EQ((Rational{0, 1}), (Rational{0, 7}));
  EXPECT_NE((Rational{1, 3}), (Rational{333333, 1000000}));
  EXPECT_LT((Rational{333333, 1000000}), (Rational{1, 3}));
  EXPECT_GT((Rational{2, 3}), (Rational{666666666, 1000000000}));
}

TEST(RationalTest, ComparesExactlyNearTwoToThe63) {
  // (2^63-1)/2^63 and (2^63-2)/(2^63-1) differ by 1/(2^63 (2^63-1)): the
  // cross products differ only in the last bit of a 126-bit number.
  const Rational a{kTwo63 - 1, kTwo63};
  const Rational b{kTwo63 - 2, kTwo63 - 1};
  EXPECT_GT(a, b);
  EXPECT_LT(b, a);
  EXPECT_NE(a, b);
  // A double cannot tell them apart; the rational must.
  EXPECT_EQ(static_cast<double>(a.num) / static_cast<double>(a.den),
            static_cast<double>(b.num) / static_cast<double>(b.den));
  EXPECT_LT((Rational{kMax - 1, kMax}), (Rational{kMax, kMax}));
  EXPECT_EQ((Rational{kMax, kMax}), (Rational{1, 1}));
  EXPECT_GT((Rational{kMax, 1}), (Rational{kMax - 1, 1}));
  EXPECT_LT((Rational{1, kMax}), (Rational{1, kMax - 1}));
}

TEST(RationalTest, Reduced) {
  EXPECT_EQ((Rational{6, 8}.Reduced().num), 3u);
  EXPECT_EQ((Rational{6, 8}.Reduced().den), 4u);
  EXPECT_EQ((Rational{0, 9}.Reduced().den), 1u);
  EXPECT_EQ((Rational{kTwo63, 4}.Reduced().ToString()),
            "2305843009213693952/1");
  EXPECT_EQ((Rational{kMax, kMax}.Reduced().ToString()), "1/1");
  EXPECT_EQ((Rational{5970719, 69}.Reduced().ToString()), "5970719/69");
  EXPECT_EQ((Rational{5971719, 69}.Reduced().ToString()), "1990573/23");
  // No lowest terms without a denominator: left unchanged, no crash.
  EXPECT_EQ((Rational{3, 0}.Reduced().ToString()), "3/0");
}

TEST(RationalTest, ToString) {
  EXPECT_EQ((Rational{25000, 1}.ToString()), "25000/1");
  EXPECT_EQ((Rational{2, 4}.ToString()), "2/4");  // as stored
  EXPECT_EQ((Rational{kMax, 3}.ToString()), "18446744073709551615/3");
}

TEST(RationalTest, ToDecimalRoundsHalfUp) {
  EXPECT_EQ((Rational{1, 3}.ToDecimal()), "0.333333");
  EXPECT_EQ((Rational{2, 3}.ToDecimal()), "0.666667");
  EXPECT_EQ((Rational{1, 8}.ToDecimal(2)), "0.13");  // 0.125 -> up
  EXPECT_EQ((Rational{1, 8}.ToDecimal(3)), "0.125");
  EXPECT_EQ((Rational{5, 2}.ToDecimal(0)), "3");  // 2.5 -> 3
  EXPECT_EQ((Rational{7, 3}.ToDecimal(0)), "2");
  EXPECT_EQ((Rational{9999995, 10000000}.ToDecimal(6)), "1.000000");
  EXPECT_EQ((Rational{19999995, 10000000}.ToDecimal(6)), "2.000000");
  EXPECT_EQ((Rational{9999994, 10000000}.ToDecimal(6)), "0.999999");
  EXPECT_EQ((Rational{0, 5}.ToDecimal(2)), "0.00");
  EXPECT_EQ((Rational{1, 20}.ToDecimal()), "0.050000");
  EXPECT_EQ((Rational{kMax, 1}.ToDecimal(1)), "18446744073709551615.0");
  EXPECT_EQ((Rational{kMax, kMax - 1}.ToDecimal(3)), "1.000");
  EXPECT_EQ((Rational{kMax, 2}.ToDecimal(0)), "9223372036854775808");
  EXPECT_EQ((Rational{1, kMax}.ToDecimal(20)), "0.00000000000000000005");
  EXPECT_EQ((Rational{1, 3}.ToDecimal(-2)), "0");
  EXPECT_EQ((Rational{1, 0}.ToDecimal()), "undefined");
}

}  // namespace
}  // namespace tally
