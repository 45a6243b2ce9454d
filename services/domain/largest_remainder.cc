// Largest remainder with the Hare (V/S) or Droop (floor(V/(S+1)) + 1)
// quota. O(P log P) in the number of passing choices, independent of the
// seat count. The rules are documented at the top of seat_allocation.cc.
#include <algorithm>
#include <vector>

#include "services/domain/seat_allocation_internal.h"

namespace tally::seats::internal {
namespace {

struct Share {
  uint64_t floor = 0;  // full quotas
  Rational remainder;  // fractional part of votes / quota, exact
  Rational quotient;   // votes / quota, for display
};

Share HareShare(uint64_t votes, uint64_t seats, uint64_t passing_votes) {
  const unsigned __int128 product =
      static_cast<unsigned __int128>(votes) * seats;
  Share share;
  share.floor = static_cast<uint64_t>(product / passing_votes);
  share.remainder =
      Rational{static_cast<uint64_t>(product % passing_votes), passing_votes};
  share.quotient = DisplayRational(product, passing_votes);
  return share;
}

Share DroopShare(uint64_t votes, uint64_t quota) {
  Share share;
  share.floor = votes / quota;
  share.remainder = Rational{votes % quota, quota};
  share.quotient = Rational{votes, quota}.Reduced();
  return share;
}

// Records the tie at the boundary of the remainder seats, if one decided
// who got the last of them. `order` is the remainder order of the choices
// with votes; its first `boundary` members got a seat in the last round.
void NoteBoundaryTie(const Prepared& prepared, const std::vector<size_t>& order,
                     const std::vector<Rational>& remainder, size_t boundary,
                     uint64_t seats_before_round, Result* result) {
  if (boundary == 0 || boundary >= order.size()) return;
  const Rational value = remainder[order[boundary - 1]];
  if (remainder[order[boundary]] != value) return;
  size_t first = boundary - 1;
  while (first > 0 && remainder[order[first - 1]] == value) --first;
  size_t end = boundary;
  while (end < order.size() && remainder[order[end]] == value) ++end;
  const std::vector<size_t> winners(order.begin() + first,
                                    order.begin() + boundary);
  const std::vector<size_t> losers(order.begin() + boundary,
                                   order.begin() + end);
  result->tie_breaks.push_back(prepared.ties.Describe(
      SeatsLabel(seats_before_round + first + 1, seats_before_round + boundary),
      "remainder", ValueText(value), winners, losers));
}

}  // namespace

void AllocateLargestRemainder(const Prepared& prepared, Outcome* outcome) {
  const Input& input = prepared.input;
  Result& result = outcome->result;
  const uint64_t seats = input.seats;
  const uint64_t total = prepared.passing_votes;  // > 0 here
  const bool hare = input.method == Method::kHare;
  const uint64_t droop_quota = total / (seats + 1) + 1;
  result.quota =
      hare ? Rational{total, seats}.Reduced() : Rational{droop_quota, 1};

  const size_t n = input.choices.size();
  std::vector<Rational> remainder(n);
  std::vector<size_t> order;
  uint64_t floors = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!prepared.passed[i]) continue;
    const uint64_t votes = prepared.votes[i];
    const Share share =
        hare ? HareShare(votes, seats, total) : DroopShare(votes, droop_quota);
    remainder[i] = share.remainder;
    result.choices[i].seats = static_cast<uint32_t>(share.floor);
    result.choices[i].quotient = share.quotient;
    result.choices[i].remainder = share.remainder.Reduced();
    floors += share.floor;  // sum of floors <= seats, see the quota rules
    order.push_back(i);
  }
  // Largest remainder first; exact ties by the tie order (more votes, then
  // the rule), which also puts zero-vote choices last.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (remainder[a] != remainder[b]) return remainder[a] > remainder[b];
    return prepared.ties.Precedes(a, b);
  });
  const size_t with_votes = static_cast<size_t>(
      std::count_if(order.begin(), order.end(),
                    [&](size_t i) { return prepared.votes[i] > 0; }));
  const uint64_t leftover = seats - floors;
  const uint64_t rounds = leftover / with_votes;
  const size_t boundary = static_cast<size_t>(leftover % with_votes);
  for (size_t j = 0; j < with_votes; ++j) {
    result.choices[order[j]].seats +=
        static_cast<uint32_t>(rounds + (j < boundary ? 1 : 0));
  }
  const std::vector<size_t> voted(order.begin(), order.begin() + with_votes);
  NoteBoundaryTie(prepared, voted, remainder, boundary,
                  floors + rounds * with_votes, &result);

  if (leftover > 0) {
    outcome->winner = order[boundary > 0 ? boundary - 1 : with_votes - 1];
  } else {
    // No remainder seat: the weakest seat holder in remainder order.
    for (auto it = order.rbegin(); it != order.rend(); ++it) {
      if (result.choices[*it].seats > 0) {
        outcome->winner = *it;
        break;
      }
    }
  }
  // Next in line: continue the remainder order after the last remainder
  // seat, wrapping to the top, then choices without votes.
  std::vector<size_t> next(order.begin() + boundary,
                           order.begin() + with_votes);
  next.insert(next.end(), order.begin(), order.begin() + boundary);
  next.insert(next.end(), order.begin() + with_votes, order.end());
  for (size_t i : next) {
    if (result.choices[i].seats < seats) {
      outcome->runner_up = i;
      break;
    }
  }
}

}  // namespace tally::seats::internal
