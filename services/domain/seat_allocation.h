// Seat allocation: largest remainder (Hare, Droop), highest averages
// (D'Hondt, Sainte-Lague, modified Sainte-Lague), legal thresholds with a
// configurable base, single-mandate plurality and absolute majority with
// runoff. Pure, exact, deterministic. See docs/ARCHITECTURE.md for the tie
// rule and the definition of the last-seat margin.
#ifndef TALLY_SERVICES_DOMAIN_SEAT_ALLOCATION_H_
#define TALLY_SERVICES_DOMAIN_SEAT_ALLOCATION_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "services/domain/rational.h"

namespace tally::seats {

enum class Method {
  kHare,
  kDroop,
  kDHondt,
  kSainteLague,
  kModifiedSainteLague,
  kPlurality,
  kAbsoluteMajority,
};

// What a threshold share (or a majority) is measured against.
enum class VoteBase {
  kListVotes,    // votes for choices
  kValidVotes,   // votes for choices + against all
  kBallotsCast,  // votes for choices + against all + invalid
};

enum class TieRule {
  kLot,       // smaller FNV-1a-64("<seed>:<id>") wins
  kLowestId,  // id that sorts first (bytes) wins
};

enum class Status {
  kAllocated,
  kNoVotes,
  kNoListPassed,
  kRunoffRequired,
  kAgainstAllPrevailed,
};

struct ChoiceVotes {
  std::string id;  // unique, non-empty
  uint64_t votes = 0;
};

struct Input {
  Method method = Method::kHare;
  uint32_t seats = 1;  // >= 1; exactly 1 for plurality / absolute majority
  std::vector<ChoiceVotes> choices;  // at least one; order is irrelevant
  uint64_t against_all = 0;
  uint64_t invalid = 0;
  // Threshold share in [0, 1] (list methods only). 5% is {5, 100}.
  Rational threshold{0, 1};
  VoteBase threshold_base = VoteBase::kListVotes;
  // Base of "more than half" for kAbsoluteMajority.
  VoteBase majority_base = VoteBase::kBallotsCast;
  TieRule tie_rule = TieRule::kLot;
  std::string tie_seed;
  // Compute the last-seat margin (costs a few dozen re-allocations).
  bool compute_margin = true;
};

struct ChoiceResult {
  std::string id;
  uint64_t votes = 0;
  uint32_t seats = 0;
  bool passed_threshold = false;
  // Largest remainder: votes / quota. Highest averages: votes / next
  // divisor (the quotient for this choice's next seat).
  Rational quotient;
  // Largest remainder: fractional part of votes / quota; zero otherwise.
  Rational remainder;
};

struct LastSeat {
  std::string winner;     // choice that took the last seat awarded
  std::string runner_up;  // choice that would take the next seat
  // Fewest extra votes for runner_up, everything else unchanged, to gain
  // a seat. 0 when undefined (no runner-up).
  uint64_t margin_votes = 0;
};

struct Result {
  Status status = Status::kAllocated;
  // In the same order as Input::choices.
  std::vector<ChoiceResult> choices;
  // Largest remainder: the quota. Highest averages: quotient of the last
  // seat awarded. Plurality / majority: the winner's votes over the base.
  Rational quota;
  uint64_t threshold_base_votes = 0;
  // Smallest vote count that passes the threshold (0 without threshold).
  uint64_t threshold_votes = 0;
  std::optional<LastSeat> last_seat;
  // kRunoffRequired: the two choices going to the runoff.
  std::vector<std::string> runoff;
  // Each exact tie resolved, in words ("seat 69: lot between a and b").
  std::vector<std::string> tie_breaks;

  uint32_t SeatsOf(const std::string& id) const;
};

// Validates the input (InvalidArgument naming the problem: seats < 1,
// duplicate or empty ids, no choices, threshold > 1, single-winner methods
// with seats != 1) and allocates.
absl::StatusOr<Result> Allocate(const Input& input);

// Parses "hare", "droop", "dhondt", "sainte-lague", "modified-sainte-lague",
// "plurality", "absolute-majority".
absl::StatusOr<Method> ParseMethod(const std::string& name);
std::string MethodName(Method method);

// Splits `total` (<= 2^32 - 1) units over parts in proportion to `weights`
// (not all zero), exactly: the parts sum to `total`. Largest remainder with
// the Hare quota; exact ties go to the larger weight, then the lower index.
// Weights whose sum exceeds the exact arithmetic's range are scaled down
// first (every positive weight stays positive). Used by the generators to
// spread voters over stations and ballots over choices.
absl::StatusOr<std::vector<uint64_t>> Apportion(
    uint64_t total, const std::vector<uint64_t>& weights);

// Exact decimal percentage ("5", "3.25", "0.667") to a share in [0, 1].
absl::StatusOr<Rational> ParsePercent(const std::string& text);

}  // namespace tally::seats

#endif  // TALLY_SERVICES_DOMAIN_SEAT_ALLOCATION_H_
