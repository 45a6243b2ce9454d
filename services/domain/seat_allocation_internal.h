// Declarations shared by the seat allocation translation units. Not part of
// the public contract: only seat_allocation.h is.
#ifndef TALLY_SERVICES_DOMAIN_SEAT_ALLOCATION_INTERNAL_H_
#define TALLY_SERVICES_DOMAIN_SEAT_ALLOCATION_INTERNAL_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "services/domain/rational.h"
#include "services/domain/seat_allocation.h"
#include "services/domain/seeded_random.h"

namespace tally::seats::internal {

// Every vote count, and their total, is at most 2^40: products of two such
// numbers (or of one and a seat count < 2^32) fit in 128 bits.
inline constexpr uint64_t kMaxVotes = uint64_t{1} << 40;
// Highest-averages methods award seats one at a time.
inline constexpr uint32_t kMaxDivisorSeats = 100000;
// The margin search never lets the runner-up exceed this many votes, so the
// inner allocations (5 * votes for modified Sainte-Lague, sums of votes)
// stay far from 64-bit overflow.
inline constexpr uint64_t kMaxSearchVotes = uint64_t{1} << 60;

// FNV-1a, 64-bit: offset basis 14695981039346656037, prime 1099511628211.

// The single total order used to break every exact tie: more votes first,
// then the tie rule (smaller lot hash, or the id that sorts first). Ids are
// unique, so no two choices are ever equal under it, and it depends only on
// ids and votes, never on the input order.
class TieBreaker {
 public:
  TieBreaker(const std::vector<ChoiceVotes>& choices,
             const std::vector<uint64_t>& votes, TieRule rule,
             const std::string& seed);

  // True when choice `a` wins an exact tie against choice `b`.
  bool Precedes(size_t a, size_t b) const { return rank_[a] < rank_[b]; }
  // 0 for the choice that wins every tie.
  uint32_t Rank(size_t index) const { return rank_[index]; }

  // Why `winner` beat `loser` in an exact tie, e.g. "by more votes (12 vs
  // 10)" or "by lot (FNV-1a of \"s:a\" 0x... < \"s:b\" 0x...)".
  std::string Reason(size_t winner, size_t loser) const;

  // A sentence for Result::tie_breaks: `winners` took the seats named by
  // `seats_label` ("seat 69", "seats 7-8") over `losers`, all of them tied
  // at `value`, which `what` names ("remainder", "quotient", "votes").
  std::string Describe(absl::string_view seats_label, absl::string_view what,
                       absl::string_view value,
                       const std::vector<size_t>& winners,
                       const std::vector<size_t>& losers) const;

 private:
  const std::vector<ChoiceVotes>& choices_;
  const std::vector<uint64_t>& votes_;
  TieRule rule_;
  std::string seed_;
  std::vector<uint32_t> rank_;
};

// "20000" for whole numbers, else "1/3 (0.333333)".
std::string ValueText(const Rational& value);

// "seat 7" or "seats 6-8".
std::string SeatsLabel(uint64_t first_seat, uint64_t last_seat);

// Everything a method needs, computed once from a validated input. `votes`
// may differ from the input's (the margin search adds votes to one choice).
// Not copyable: `ties` refers to `votes`.
struct Prepared {
  Prepared(const Input& input, std::vector<uint64_t> votes);
  Prepared(const Prepared&) = delete;
  Prepared& operator=(const Prepared&) = delete;

  const Input& input;
  std::vector<uint64_t> votes;
  std::vector<bool> passed;  // threshold passed (list methods)
  uint64_t list_votes = 0;   // sum of all choice votes
  uint64_t passing_votes = 0;
  TieBreaker ties;
};

// A method's result plus the choices the last-seat margin is about.
struct Outcome {
  Result result;
  std::optional<size_t> winner;     // took the last seat awarded
  std::optional<size_t> runner_up;  // would take the next seat
};

// Base votes for a VoteBase, from the prepared totals.
uint64_t BaseVotes(const Prepared& prepared, VoteBase base);

// Methods. Each fills seats, quotients, quota, status, tie notes, winner and
// runner-up; the caller has already filled ids, votes, passed_threshold and
// the threshold fields, and handled the no-votes / nobody-passed states.
void AllocateLargestRemainder(const Prepared& prepared, Outcome* outcome);
void AllocateHighestAverages(const Prepared& prepared, Outcome* outcome);
void AllocatePlurality(const Prepared& prepared, Outcome* outcome);
void AllocateAbsoluteMajority(const Prepared& prepared, Outcome* outcome);

// Exact quotient a/b for display when a may exceed 64 bits: lowest terms,
// and if still too large, both terms halved until they fit (display only;
// no seat decision reads it).
Rational DisplayRational(unsigned __int128 num, unsigned __int128 den);

}  // namespace tally::seats::internal

#endif  // TALLY_SERVICES_DOMAIN_SEAT_ALLOCATION_INTERNAL_H_
