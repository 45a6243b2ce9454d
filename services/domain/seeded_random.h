// Seeded, platform-independent randomness for the generators (election
// definitions, election nights). Plain 64-bit arithmetic, so a seed gives the
// same sequence on every platform and standard library, unlike the std
// distributions whose algorithms are unspecified.
#ifndef TALLY_SERVICES_DOMAIN_SEEDED_RANDOM_H_
#define TALLY_SERVICES_DOMAIN_SEEDED_RANDOM_H_

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tally {

// FNV-1a, 64 bits: a documented hash anyone can recompute (tie lots, stream
// keys).
inline uint64_t Fnv1a64(absl::string_view text) {
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

// SplitMix64 (Steele, Lea and Flood, 2014).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, n), n >= 1: Lemire's multiply-shift with rejection,
  // exact and rarely dividing.
  uint64_t Below(uint64_t n) {
    unsigned __int128 m = static_cast<unsigned __int128>(Next()) * n;
    uint64_t low = static_cast<uint64_t>(m);
    if (low < n) {
      const uint64_t threshold = (0 - n) % n;
      while (low < threshold) {
        m = static_cast<unsigned __int128>(Next()) * n;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

  // Uniform in [lo, hi] (hi - lo < 2^64 - 1) by rejecting draws at or above
  // the largest multiple of the range, then reducing modulo it. Also exact;
  // the definition generator's published seeds depend on this mapping.
  uint64_t Uniform(uint64_t lo, uint64_t hi) {
    const uint64_t range = hi - lo + 1;
    const uint64_t max = std::numeric_limits<uint64_t>::max();
    const uint64_t limit = max - max % range;
    uint64_t x = Next();
    while (x >= limit) x = Next();
    return lo + x % range;
  }

 private:
  uint64_t state_;
};

// An independent stream per purpose (a district, a contest, "turnout"), so
// changing one part of the input leaves the others' draws unchanged.
inline SplitMix64 StreamFor(uint64_t seed, absl::string_view key) {
  return SplitMix64(seed ^ Fnv1a64(key));
}

// Fisher-Yates.
template <typename T>
void Shuffle(std::vector<T>* items, SplitMix64* rng) {
  for (size_t i = items->size(); i > 1; --i) {
    std::swap((*items)[i - 1], (*items)[rng->Below(i)]);
  }
}

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_SEEDED_RANDOM_H_
