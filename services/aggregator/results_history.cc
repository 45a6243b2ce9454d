#include "services/aggregator/results_history.h"

#include <algorithm>
#include <optional>

namespace tally::aggregator {

void ResultsHistory::Reset(uint64_t revision, const TotalsBook& totals,
                           const std::vector<v1::SeatAllocation>& allocations) {
  oldest_ = newest_ = swept_ = revision;
  totals_.assign(totals.size(), {});
  for (uint32_t entry = 0; entry < totals.size(); ++entry) {
    totals_[entry].emplace_back(revision, totals.ToProto(entry));
  }
  allocations_.assign(allocations.size(), {});
  for (size_t c = 0; c < allocations.size(); ++c) {
    allocations_[c].emplace_back(revision, allocations[c]);
  }
}

void ResultsHistory::Record(const v1::Event& event, const TotalsBook& totals,
                            const ElectionIndex& index) {
  const uint64_t revision = event.revision();
  newest_ = revision;
  if (newest_ >= oldest_ + retained_) oldest_ = newest_ + 1 - retained_;
  for (const v1::Totals& changed : event.totals()) {
    const std::optional<uint32_t> entry =
        totals.Find(changed.contest_id(), changed.scope());
    if (!entry.has_value() || *entry >= totals_.size()) continue;
    totals_[*entry].emplace_back(revision, changed);
    Trim(totals_[*entry]);
  }
  for (const v1::SeatAllocation& changed : event.allocations()) {
    const ContestInfo* contest = index.FindContest(changed.contest_id());
    if (contest == nullptr || contest->index >= allocations_.size()) continue;
    allocations_[contest->index].emplace_back(revision, changed);
    Trim(allocations_[contest->index]);
  }
  // Entries that stopped changing keep their old changes until a sweep, so
  // memory stays bounded by about twice the retained revisions' changes.
  if (newest_ >= swept_ + std::max<uint64_t>(1, retained_ / 8)) {
    swept_ = newest_;
    for (auto& changes : totals_) Trim(changes);
    for (auto& changes : allocations_) Trim(changes);
  }
}

template <typename T>
void ResultsHistory::Trim(Changes<T>& changes) const {
  // The change in force at oldest_ stays; everything before it goes.
  while (changes.size() >= 2 && changes[1].first <= oldest_) {
    changes.pop_front();
  }
}

template <typename T>
const T& ResultsHistory::At(const Changes<T>& changes, uint64_t revision) {
  // The last change at or below `revision`; the first is at or below
  // oldest_ (the class invariant).
  auto after =
      std::upper_bound(changes.begin(), changes.end(), revision,
                       [](uint64_t r, const std::pair<uint64_t, T>& change) {
                         return r < change.first;
                       });
  if (after != changes.begin()) --after;
  return after->second;
}

const v1::Totals& ResultsHistory::TotalsAt(uint32_t entry,
                                           uint64_t revision) const {
  return At(totals_[entry], revision);
}

const v1::SeatAllocation& ResultsHistory::AllocationAt(
    uint32_t contest_index, uint64_t revision) const {
  return At(allocations_[contest_index], revision);
}

}  // namespace tally::aggregator
