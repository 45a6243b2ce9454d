// Seat allocation: the rules this library implements.
//
// Arithmetic. Only integers and exact Rationals (compared by 128-bit
// cross-multiplication). No floating point decides a seat. Every vote count
// and the total of all votes, against-all and invalid ballots is at most
// 2^40; seats fit in 32 bits. Highest-averages methods accept at most 100000
// seats and follow the sequential seat-by-seat order exactly (an exact jump
// start grants all but the last few seats at once); largest remainder is
// O(choices * log choices) for any seat count.
//
// Threshold (list methods). A choice passes when
//   votes * threshold.den >= threshold.num * base
// where base is the sum of choice votes (kListVotes), plus against-all
// (kValidVotes), plus invalid ballots (kBallotsCast). threshold_votes is the
// smallest vote count that passes (0 without a threshold). Only passing
// choices take part; the others get no seat and zero quotient/remainder.
// Single-winner methods ignore the threshold.
//
// States. No votes for any choice: kNoVotes, all seats 0, nobody marked as
// passed (against-all and invalid ballots alone cannot fill a seat). Votes
// exist but no choice with votes passed: kNoListPassed.
//
// Largest remainder. V = votes of passing choices, S = seats.
//   Hare: quota V/S (a Rational); a choice's quotient is v*S/V; it gets
//   floor(v*S/V) seats, and the S - sum(floors) leftover seats (always fewer
//   than the number of choices with a remainder) go one each to the largest
//   remainders.
//   Droop: quota q = floor(V/(S+1)) + 1 (an integer); floor(v/q) seats, then
//   leftover seats by largest remainder (v mod q)/q. When all floors fill S
//   there are no remainder seats. With very few votes per seat the Droop
//   floors can leave more seats than there are choices with votes; then the
//   remainder order is repeated (every choice with votes gets one more seat
//   per round) until all S are filled.
//   Choices with zero votes never receive a remainder seat.
//
// Highest averages. Seats go one at a time to the highest quotient v/d(s),
// s = seats already held: D'Hondt d(s) = s+1; Sainte-Lague d(s) = 2s+1;
// modified Sainte-Lague d(0) = 7/5 then 2s+1. The Result quota is the
// quotient of the last seat awarded; each choice's quotient is v/d(s) for
// its next seat.
//
// Ties. An exact tie between choices for a seat (equal remainder, equal
// quotient, equal votes for a single seat) goes to the choice with more
// votes, then by the TieRule (tie_break.cc). Ties that decided who holds a
// seat at the end (a tie group split by the last seat) are described in
// Result::tie_breaks; ties between choices that all end up seated are not.
//
// Last seat (list methods, status kAllocated).
//   winner: highest averages, the holder of seat S. Largest remainder, the
//   choice with the smallest remainder that still got a remainder seat; if no
//   remainder seat was given (the floors filled every seat), the seat holder
//   that comes last in the remainder order (smallest remainder, then fewest
//   votes, then the tie rule): the seat closest to being lost.
//   runner_up: the choice that would take seat S+1 under the method's own
//   order: highest averages, the best quotient not yet seated; largest
//   remainder, the next choice in the remainder order after the last
//   remainder seat (repeating the order from the top if needed). A choice
//   already holding all S seats cannot gain one and is skipped; without any
//   other passing choice there is no runner-up.
//   margin_votes: the fewest extra votes x such that, with the runner-up's
//   votes increased by x and everything else unchanged, a full re-allocation
//   gives the runner-up more seats. Found by doubling then binary search over
//   x with full re-allocations, so quota and threshold shifts count. The
//   search stops at 2^60 votes for the runner-up; a margin beyond that (only
//   possible with seat counts far above 2^20) is reported as 0, i.e. unknown.
//
// Plurality (exactly 1 seat). The most votes wins (ties as above). If
// against-all has more votes than the winner, kAgainstAllPrevailed and no
// seat. Absolute majority (exactly 1 seat): the leader wins when
// votes * 2 > base (majority_base); otherwise kRunoffRequired with the top
// two (ties as above) in `runoff`. For both, quota = winner's votes / base
// (majority_base), threshold_base_votes = that base, and for absolute
// majority threshold_votes = floor(base/2) + 1. The margin for single-winner
// methods uses the same search: for plurality it is the second's deficit
// plus one, or the deficit alone when an exact tie would go to the second.
#include "services/domain/seat_allocation.h"

#include <algorithm>
#include <cctype>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/domain/seat_allocation_internal.h"

namespace tally::seats {
namespace internal {

Prepared::Prepared(const Input& input_in, std::vector<uint64_t> votes_in)
    : input(input_in),
      votes(std::move(votes_in)),
      passed(input_in.choices.size(), false),
      ties(input_in.choices, votes, input_in.tie_rule, input_in.tie_seed) {
  for (uint64_t v : votes) list_votes += v;
}

uint64_t BaseVotes(const Prepared& prepared, VoteBase base) {
  switch (base) {
    case VoteBase::kListVotes:
      return prepared.list_votes;
    case VoteBase::kValidVotes:
      return prepared.list_votes + prepared.input.against_all;
    case VoteBase::kBallotsCast:
      return prepared.list_votes + prepared.input.against_all +
             prepared.input.invalid;
  }
  return prepared.list_votes;
}

Rational DisplayRational(unsigned __int128 num, unsigned __int128 den) {
  if (den == 0) return Rational{0, 1};
  if (num == 0) return Rational{0, 1};
  unsigned __int128 a = num, b = den;
  while (b != 0) {
    const unsigned __int128 t = a % b;
    a = b;
    b = t;
  }
  num /= a;
  den /= a;
  while (num > UINT64_MAX || den > UINT64_MAX) {
    num >>= 1;
    den >>= 1;
  }
  if (den == 0) den = 1;
  return Rational{static_cast<uint64_t>(num), static_cast<uint64_t>(den)};
}

}  // namespace internal

namespace {

using internal::Outcome;
using internal::Prepared;

bool IsSingleWinner(Method method) {
  return method == Method::kPlurality || method == Method::kAbsoluteMajority;
}

bool IsDivisorMethod(Method method) {
  return method == Method::kDHondt || method == Method::kSainteLague ||
         method == Method::kModifiedSainteLague;
}

absl::Status ValidateEnums(const Input& input) {
  switch (input.method) {
    case Method::kHare:
    case Method::kDroop:
    case Method::kDHondt:
    case Method::kSainteLague:
    case Method::kModifiedSainteLague:
    case Method::kPlurality:
    case Method::kAbsoluteMajority:
      break;
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown allocation method ", static_cast<int>(input.method)));
  }
  for (VoteBase base : {input.threshold_base, input.majority_base}) {
    if (base != VoteBase::kListVotes && base != VoteBase::kValidVotes &&
        base != VoteBase::kBallotsCast) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown vote base ", static_cast<int>(base)));
    }
  }
  if (input.tie_rule != TieRule::kLot && input.tie_rule != TieRule::kLowestId) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown tie rule ", static_cast<int>(input.tie_rule)));
  }
  return absl::OkStatus();
}

absl::Status ValidateSeats(const Input& input) {
  if (input.seats < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("seats must be >= 1 (got ", input.seats, ")"));
  }
  if (IsSingleWinner(input.method) && input.seats != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(MethodName(input.method),
                     " allocates exactly 1 seat (got ", input.seats, ")"));
  }
  if (IsDivisorMethod(input.method) &&
      input.seats > internal::kMaxDivisorSeats) {
    return absl::InvalidArgumentError(
        absl::StrCat("seats must be <= ", internal::kMaxDivisorSeats, " for ",
                     MethodName(input.method), " (got ", input.seats, ")"));
  }
  return absl::OkStatus();
}

absl::Status ValidateChoices(const Input& input) {
  if (input.choices.empty()) return absl::InvalidArgumentError("no choices");
  absl::flat_hash_set<std::string> seen;
  uint64_t total = 0;
  for (size_t i = 0; i < input.choices.size(); ++i) {
    const ChoiceVotes& choice = input.choices[i];
    if (choice.id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("choice ", i + 1, " has an empty id"));
    }
    if (!seen.insert(choice.id).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate choice id \"", choice.id, "\""));
    }
    if (choice.votes > internal::kMaxVotes) {
      return absl::InvalidArgumentError(
          absl::StrCat("choice \"", choice.id, "\" has ", choice.votes,
                       " votes, more than ", internal::kMaxVotes));
    }
    total += choice.votes;  // at most 2^40 per step: cannot wrap
    if (total > internal::kMaxVotes) break;
  }
  // Check each term before adding so the sum itself cannot wrap.
  if (total <= internal::kMaxVotes && input.against_all <= internal::kMaxVotes)
    total += input.against_all;
  else
    total = internal::kMaxVotes + 1;
  if (total <= internal::kMaxVotes && input.invalid <= internal::kMaxVotes)
    total += input.invalid;
  else
    total = internal::kMaxVotes + 1;
  if (total > internal::kMaxVotes) {
    return absl::InvalidArgumentError(
        absl::StrCat("total of choice votes, against all and invalid ballots "
                     "exceeds ",
                     internal::kMaxVotes));
  }
  return absl::OkStatus();
}

absl::Status ValidateThreshold(const Input& input) {
  const Rational& t = input.threshold;
  if (t.den == 0 || t.num > t.den) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threshold must be between 0% and 100% (got ", t.ToString(), ")"));
  }
  return absl::OkStatus();
}

absl::Status Validate(const Input& input) {
  if (absl::Status s = ValidateEnums(input); !s.ok()) return s;
  if (absl::Status s = ValidateSeats(input); !s.ok()) return s;
  if (absl::Status s = ValidateChoices(input); !s.ok()) return s;
  return ValidateThreshold(input);
}

// Marks passing choices and fills the threshold fields of the result.
void ApplyThreshold(Prepared* prepared, Result* result) {
  const Input& input = prepared->input;
  const uint64_t base = internal::BaseVotes(*prepared, input.threshold_base);
  result->threshold_base_votes = base;
  const unsigned __int128 need =
      static_cast<unsigned __int128>(input.threshold.num) * base;
  // Smallest integer v with v * den >= need; at most base since num <= den.
  result->threshold_votes = static_cast<uint64_t>(
      (need + input.threshold.den - 1) / input.threshold.den);
  for (size_t i = 0; i < prepared->votes.size(); ++i) {
    const unsigned __int128 have =
        static_cast<unsigned __int128>(prepared->votes[i]) *
        input.threshold.den;
    prepared->passed[i] = have >= need;
    if (prepared->passed[i]) prepared->passing_votes += prepared->votes[i];
  }
}

// One allocation of an already validated input with the given vote counts;
// never computes the margin.
Outcome Run(const Input& input, std::vector<uint64_t> votes) {
  Prepared prepared(input, std::move(votes));
  Outcome outcome;
  Result& result = outcome.result;
  result.choices.resize(input.choices.size());
  for (size_t i = 0; i < input.choices.size(); ++i) {
    result.choices[i].id = input.choices[i].id;
    result.choices[i].votes = prepared.votes[i];
  }
  if (prepared.list_votes == 0) {
    result.status = Status::kNoVotes;
    if (!IsSingleWinner(input.method)) {
      ApplyThreshold(&prepared, &result);
    } else {
      result.threshold_base_votes =
          internal::BaseVotes(prepared, input.majority_base);
    }
    return outcome;
  }
  if (IsSingleWinner(input.method)) {
    std::fill(prepared.passed.begin(), prepared.passed.end(), true);
    for (size_t i = 0; i < input.choices.size(); ++i) {
      result.choices[i].passed_threshold = true;
    }
    if (input.method == Method::kPlurality) {
      internal::AllocatePlurality(prepared, &outcome);
    } else {
      internal::AllocateAbsoluteMajority(prepared, &outcome);
    }
    return outcome;
  }
  ApplyThreshold(&prepared, &result);
  for (size_t i = 0; i < input.choices.size(); ++i) {
    result.choices[i].passed_threshold = prepared.passed[i];
  }
  if (prepared.passing_votes == 0) {
    result.status = Status::kNoListPassed;
    return outcome;
  }
  if (input.method == Method::kHare || input.method == Method::kDroop) {
    internal::AllocateLargestRemainder(prepared, &outcome);
  } else {
    internal::AllocateHighestAverages(prepared, &outcome);
  }
  return outcome;
}

std::vector<uint64_t> InputVotes(const Input& input) {
  std::vector<uint64_t> votes;
  votes.reserve(input.choices.size());
  for (const ChoiceVotes& choice : input.choices) votes.push_back(choice.votes);
  return votes;
}

// True when `extra` more votes for choice `who` give it more than `held`
// seats after a full re-allocation.
bool GainsSeat(const Input& input, size_t who, uint32_t held, uint64_t extra) {
  std::vector<uint64_t> votes = InputVotes(input);
  votes[who] += extra;
  const Outcome outcome = Run(input, std::move(votes));
  return outcome.result.choices[who].seats > held;
}

// Fewest extra votes for `who` to gain a seat; 0 if not found below the
// search cap. Monotone in practice (more votes never cost a seat under these
// methods with everything else fixed); the bracketing keeps the answer exact
// at the boundary found either way: extra-1 does not gain, extra does.
uint64_t SearchMargin(const Input& input, size_t who, uint32_t held) {
  const uint64_t start = input.choices[who].votes;
  const uint64_t cap = internal::kMaxSearchVotes - start;
  uint64_t lo = 0;  // does not gain (the current allocation)
  uint64_t hi = 1;
  while (!GainsSeat(input, who, held, hi)) {
    lo = hi;
    if (hi >= cap) return 0;
    hi = std::min(cap, hi * 2);
  }
  while (hi - lo > 1) {
    const uint64_t mid = lo + (hi - lo) / 2;
    if (GainsSeat(input, who, held, mid)) {
      hi = mid;
    } else {
      lo = mid;
    }
  }
  return hi;
}

}  // namespace

uint32_t Result::SeatsOf(const std::string& id) const {
  for (const ChoiceResult& choice : choices) {
    if (choice.id == id) return choice.seats;
  }
  return 0;
}

absl::StatusOr<Result> Allocate(const Input& input) {
  if (absl::Status s = Validate(input); !s.ok()) return s;
  Outcome outcome = Run(input, InputVotes(input));
  Result& result = outcome.result;
  if (result.status == Status::kAllocated && outcome.winner.has_value()) {
    LastSeat last;
    last.winner = input.choices[*outcome.winner].id;
    if (outcome.runner_up.has_value()) {
      const size_t who = *outcome.runner_up;
      last.runner_up = input.choices[who].id;
      if (input.compute_margin) {
        last.margin_votes = SearchMargin(input, who, result.choices[who].seats);
      }
    }
    result.last_seat = std::move(last);
  }
  return std::move(result);
}

absl::StatusOr<Method> ParseMethod(const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (Method method : {Method::kHare, Method::kDroop, Method::kDHondt,
                        Method::kSainteLague, Method::kModifiedSainteLague,
                        Method::kPlurality, Method::kAbsoluteMajority}) {
    if (lower == MethodName(method)) return method;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown allocation method \"", name,
      "\" (expected hare, droop, dhondt, sainte-lague, modified-sainte-lague, "
      "plurality or absolute-majority)"));
}

std::string MethodName(Method method) {
  switch (method) {
    case Method::kHare:
      return "hare";
    case Method::kDroop:
      return "droop";
    case Method::kDHondt:
      return "dhondt";
    case Method::kSainteLague:
      return "sainte-lague";
    case Method::kModifiedSainteLague:
      return "modified-sainte-lague";
    case Method::kPlurality:
      return "plurality";
    case Method::kAbsoluteMajority:
      return "absolute-majority";
  }
  return absl::StrCat("method-", static_cast<int>(method));
}

absl::StatusOr<Rational> ParsePercent(const std::string& text) {
  // At most 3 integer digits (the value is <= 100) and 16 decimals keep
  // 100 * 10^decimals below 2^63.
  constexpr size_t kMaxDecimals = 16;
  auto bad = [&text](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threshold percent \"", text, "\" ", why,
        " (expected a decimal between 0 and 100 such as \"5\" or \"3.25\")"));
  };
  if (text.empty()) return bad("is empty");
  const size_t dot = text.find('.');
  const std::string whole = text.substr(0, dot);
  const std::string decimals =
      dot == std::string::npos ? std::string() : text.substr(dot + 1);
  auto all_digits = [](const std::string& s) {
    return std::all_of(s.begin(), s.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c)) != 0;
    });
  };
  if (!text.empty() && text[0] == '-') return bad("is negative");
  if (whole.empty() || !all_digits(whole) || !all_digits(decimals) ||
      (dot != std::string::npos && decimals.empty())) {
    return bad("is not a decimal number");
  }
  if (decimals.size() > kMaxDecimals) return bad("has too many decimals");
  const size_t first = whole.find_first_not_of('0');
  const std::string significant =
      first == std::string::npos ? "0" : whole.substr(first);
  if (significant.size() > 3) return bad("is more than 100");
  uint64_t num = 0;
  uint64_t scale = 1;
  for (char c : significant) num = num * 10 + static_cast<uint64_t>(c - '0');
  for (char c : decimals) {
    num = num * 10 + static_cast<uint64_t>(c - '0');
    scale *= 10;
  }
  const uint64_t den = 100 * scale;
  if (num > den) return bad("is more than 100");
  return Rational{num, den}.Reduced();
}

// Scales weights down (keeping every positive weight positive) until their
// sum fits the seat library's exact arithmetic.
static std::vector<uint64_t> FitWeights(std::vector<uint64_t> weights) {
  unsigned __int128 sum = 0;
  for (uint64_t w : weights) sum += w;
  int shift = 0;
  // Room under the 2^40 limit on the sum of all votes.
  while ((sum >> shift) > (internal::kMaxVotes >> 1)) ++shift;
  if (shift == 0) return weights;
  for (uint64_t& w : weights) {
    if (w > 0) w = std::max<uint64_t>(1, w >> shift);
  }
  return weights;
}

absl::StatusOr<std::vector<uint64_t>> Apportion(
    uint64_t total, const std::vector<uint64_t>& weights) {
  std::vector<uint64_t> parts(weights.size(), 0);
  if (total == 0 || weights.empty()) return parts;
  if (total > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot apportion ", total, " ballots: at most ",
                     std::numeric_limits<uint32_t>::max()));
  }
  const std::vector<uint64_t> fitted = FitWeights(weights);
  Input input;
  input.method = Method::kHare;
  input.seats = static_cast<uint32_t>(total);
  input.tie_rule = TieRule::kLowestId;
  input.compute_margin = false;
  input.choices.reserve(fitted.size());
  for (size_t i = 0; i < fitted.size(); ++i) {
    // Zero-padded so that the lowest-id tie rule follows index order.
    input.choices.push_back({absl::StrFormat("%010d", i), fitted[i]});
  }
  absl::StatusOr<Result> result = Allocate(input);
  if (!result.ok()) {
    return absl::InternalError(
        absl::StrCat("apportionment failed: ", result.status().message()));
  }
  if (result->status != Status::kAllocated ||
      result->choices.size() != parts.size()) {
    return absl::InternalError("apportionment did not allocate every unit");
  }
  uint64_t sum = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    parts[i] = result->choices[i].seats;
    sum += parts[i];
  }
  if (sum != total) {
    return absl::InternalError(
        absl::StrCat("apportionment allocated ", sum, " of ", total));
  }
  return parts;
}

}  // namespace tally::seats
