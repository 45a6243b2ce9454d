// The deterministic tie rule. An exact tie (equal remainders, equal
// quotients, equal votes for a single seat) goes to the choice with more
// votes; between equal votes, to the choice favoured by the contest's
// TieRule. The lot is reproducible by anyone: the smaller FNV-1a 64-bit hash
// of "<tie_seed>:<choice id>" wins (a hash collision, which needs two ids
// with the same hash, falls back to the id that sorts first). Nothing ever
// depends on the order in which choices are listed.
#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "services/domain/seat_allocation_internal.h"

namespace tally::seats::internal {
namespace {

std::string LotKey(const std::string& seed, const std::string& id) {
  return absl::StrCat(seed, ":", id);
}

std::string JoinIds(const std::vector<ChoiceVotes>& choices,
                    const std::vector<size_t>& indices) {
  std::vector<std::string> ids;
  ids.reserve(indices.size());
  for (size_t i : indices) ids.push_back(choices[i].id);
  if (ids.size() <= 1) return absl::StrJoin(ids, "");
  const std::string last = ids.back();
  ids.pop_back();
  return absl::StrCat(absl::StrJoin(ids, ", "), " and ", last);
}

}  // namespace

TieBreaker::TieBreaker(const std::vector<ChoiceVotes>& choices,
                       const std::vector<uint64_t>& votes, TieRule rule,
                       const std::string& seed)
    : choices_(choices), votes_(votes), rule_(rule), seed_(seed) {
  const size_t n = choices.size();
  std::vector<uint64_t> lot(n, 0);
  if (rule == TieRule::kLot) {
    for (size_t i = 0; i < n; ++i)
      lot[i] = Fnv1a64(LotKey(seed, choices[i].id));
  }
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (votes[a] != votes[b]) return votes[a] > votes[b];
    if (rule == TieRule::kLot && lot[a] != lot[b]) return lot[a] < lot[b];
    return choices[a].id < choices[b].id;
  });
  rank_.assign(n, 0);
  for (size_t r = 0; r < n; ++r) rank_[order[r]] = static_cast<uint32_t>(r);
}

std::string TieBreaker::Reason(size_t winner, size_t loser) const {
  if (votes_[winner] != votes_[loser]) {
    return absl::StrCat("by more votes (", votes_[winner], " vs ",
                        votes_[loser], ")");
  }
  const std::string& w = choices_[winner].id;
  const std::string& l = choices_[loser].id;
  if (rule_ == TieRule::kLowestId) return "by lowest id";
  const uint64_t hw = Fnv1a64(LotKey(seed_, w));
  const uint64_t hl = Fnv1a64(LotKey(seed_, l));
  if (hw == hl) return "by lowest id (lot hashes collide)";
  return absl::StrFormat(
      "by lot (FNV-1a-64 of \"%s\" = %016x < \"%s\" = %016x)", LotKey(seed_, w),
      hw, LotKey(seed_, l), hl);
}

std::string TieBreaker::Describe(absl::string_view seats_label,
                                 absl::string_view what,
                                 absl::string_view value,
                                 const std::vector<size_t>& winners,
                                 const std::vector<size_t>& losers) const {
  std::vector<size_t> all = winners;
  all.insert(all.end(), losers.begin(), losers.end());
  std::sort(all.begin(), all.end(),
            [&](size_t a, size_t b) { return Precedes(a, b); });
  // The decisive comparison is at the boundary: the weakest winner against
  // the strongest loser.
  size_t weakest = winners.front();
  for (size_t w : winners) {
    if (Precedes(weakest, w)) weakest = w;
  }
  size_t strongest = losers.front();
  for (size_t l : losers) {
    if (Precedes(l, strongest)) strongest = l;
  }
  return absl::StrCat(seats_label, ": equal ", what, " ", value, " between ",
                      JoinIds(choices_, all), "; ", JoinIds(choices_, winners),
                      " took ", winners.size() == 1 ? "it" : "them", " over ",
                      JoinIds(choices_, losers), " ",
                      Reason(weakest, strongest));
}

std::string ValueText(const Rational& value) {
  const Rational reduced = value.Reduced();
  if (reduced.den == 1) return absl::StrCat(reduced.num);
  return absl::StrCat(reduced.ToString(), " (", reduced.ToDecimal(6), ")");
}

std::string SeatsLabel(uint64_t first_seat, uint64_t last_seat) {
  if (first_seat == last_seat) return absl::StrCat("seat ", first_seat);
  return absl::StrCat("seats ", first_seat, "-", last_seat);
}

}  // namespace tally::seats::internal
