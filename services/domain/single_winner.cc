// Single-seat methods: plurality and absolute majority with a runoff of the
// top two. The rules are documented at the top of seat_allocation.cc.
#include <algorithm>
#include <numeric>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/domain/seat_allocation_internal.h"

namespace tally::seats::internal {
namespace {

// All choices, best first: more votes, then the tie rule.
std::vector<size_t> Ranking(const Prepared& prepared) {
  std::vector<size_t> order(prepared.votes.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return prepared.ties.Precedes(a, b); });
  return order;
}

// Records the tie for the first `places` positions of `order`, if the
// choices at positions places-1 and places have equal votes.
void NoteTie(const Prepared& prepared, const std::vector<size_t>& order,
             size_t places, absl::string_view label_one,
             absl::string_view label_many, Result* result) {
  if (places == 0 || places >= order.size()) return;
  const uint64_t value = prepared.votes[order[places - 1]];
  if (prepared.votes[order[places]] != value) return;
  size_t first = places - 1;
  while (first > 0 && prepared.votes[order[first - 1]] == value) --first;
  size_t end = places;
  while (end < order.size() && prepared.votes[order[end]] == value) ++end;
  const std::vector<size_t> winners(order.begin() + first,
                                    order.begin() + places);
  const std::vector<size_t> losers(order.begin() + places, order.begin() + end);
  const std::string label =
      first + 1 == places
          ? absl::StrCat(label_one, " ", places)
          : absl::StrCat(label_many, " ", first + 1, "-", places);
  result->tie_breaks.push_back(prepared.ties.Describe(
      label, "votes", absl::StrCat(value), winners, losers));
}

}  // namespace

void AllocatePlurality(const Prepared& prepared, Outcome* outcome) {
  Result& result = outcome->result;
  const std::vector<size_t> order = Ranking(prepared);
  const size_t top = order[0];
  const uint64_t base = BaseVotes(prepared, prepared.input.majority_base);
  result.threshold_base_votes = base;
  result.quota = Rational{prepared.votes[top], base}.Reduced();
  if (prepared.input.against_all > prepared.votes[top]) {
    result.status = Status::kAgainstAllPrevailed;
    return;
  }
  result.choices[top].seats = 1;
  NoteTie(prepared, order, 1, "seat", "seats", &result);
  outcome->winner = top;
  if (order.size() > 1) outcome->runner_up = order[1];
}

void AllocateAbsoluteMajority(const Prepared& prepared, Outcome* outcome) {
  Result& result = outcome->result;
  const std::vector<size_t> order = Ranking(prepared);
  const size_t top = order[0];
  const uint64_t base = BaseVotes(prepared, prepared.input.majority_base);
  result.threshold_base_votes = base;
  result.threshold_votes = base / 2 + 1;
  result.quota = Rational{prepared.votes[top], base}.Reduced();
  // "More than half": votes * 2 > base, exactly half is not enough.
  if (static_cast<unsigned __int128>(prepared.votes[top]) * 2 > base) {
    result.choices[top].seats = 1;
    outcome->winner = top;
    if (order.size() > 1) outcome->runner_up = order[1];
    return;
  }
  result.status = Status::kRunoffRequired;
  const size_t places = std::min<size_t>(2, order.size());
  for (size_t i = 0; i < places; ++i) {
    result.runoff.push_back(prepared.input.choices[order[i]].id);
  }
  NoteTie(prepared, order, places, "runoff place", "runoff places", &result);
}

}  // namespace tally::seats::internal
