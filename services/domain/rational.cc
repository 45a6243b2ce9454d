#include "services/domain/rational.h"

#include <numeric>
#include <string>

#include "absl/strings/str_cat.h"

namespace tally {

Rational Rational::Reduced() const {
  // A zero denominator has no lowest terms; returning the value unchanged
  // keeps the function total instead of dividing by zero.
  if (den == 0) return *this;
  if (num == 0) return Rational{0, 1};
  const uint64_t g = std::gcd(num, den);
  return Rational{num / g, den / g};
}

std::string Rational::ToString() const { return absl::StrCat(num, "/", den); }

std::string Rational::ToDecimal(int digits) const {
  if (den == 0) return "undefined";
  if (digits < 0) digits = 0;
  // Long division digit by digit keeps every intermediate below 2^68, so any
  // number of places is exact before the final half-up rounding.
  uint64_t whole = num / den;
  unsigned __int128 rest = num % den;
  std::string fraction;
  fraction.reserve(static_cast<size_t>(digits));
  for (int i = 0; i < digits; ++i) {
    rest *= 10;
    fraction.push_back(static_cast<char>('0' + static_cast<int>(rest / den)));
    rest %= den;
  }
  if (rest * 2 >= den) {
    // Round half up: carry through the fraction into the whole part.
    int i = digits - 1;
    for (; i >= 0 && fraction[static_cast<size_t>(i)] == '9'; --i) {
      fraction[static_cast<size_t>(i)] = '0';
    }
    if (i >= 0) {
      ++fraction[static_cast<size_t>(i)];
    } else {
      ++whole;
    }
  }
  // A carry needs den >= 2, so `whole` was at most 2^63 and cannot wrap.
  std::string out = absl::StrCat(whole);
  if (digits > 0) absl::StrAppend(&out, ".", fraction);
  return out;
}

}  // namespace tally
