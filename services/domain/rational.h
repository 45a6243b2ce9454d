// Exact non-negative fractions for seat arithmetic. Numerators and
// denominators are 64-bit, so every cross product fits in the 128-bit
// intermediates used for comparison: no floating point decides a seat.
#ifndef TALLY_SERVICES_DOMAIN_RATIONAL_H_
#define TALLY_SERVICES_DOMAIN_RATIONAL_H_

#include <compare>
#include <cstdint>
#include <string>

namespace tally {

struct Rational {
  uint64_t num = 0;
  uint64_t den = 1;

  // Exact comparison by cross-multiplication in 128 bits.
  friend std::strong_ordering operator<=>(const Rational& a,
                                          const Rational& b) {
    const unsigned __int128 l = static_cast<unsigned __int128>(a.num) * b.den;
    const unsigned __int128 r = static_cast<unsigned __int128>(b.num) * a.den;
    return l <=> r;
  }
  friend bool operator==(const Rational& a, const Rational& b) {
    return (a <=> b) == std::strong_ordering::equal;
  }

  // Lowest terms (den > 0 required).
  Rational Reduced() const;
  // "num/den".
  std::string ToString() const;
  // Decimal rounding half up to `digits` places, for display only.
  std::string ToDecimal(int digits = 6) const;
};

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_RATIONAL_H_
