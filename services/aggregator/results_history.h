// The figures of recent revisions, for reads pinned to a revision
// (GetResults.revision, the gateway's /v1/results?revision=R): the totals
// of every (contest, scope) entry and the seat allocation of every contest
// as they were at each of the last `retained` revisions. Kept in memory as
// each entry's changes (the new full values a commit's event carries), so
// memory grows with what the retained commits changed, not with the
// number of revisions times the election's size. Nothing from before the
// aggregator's start (or a rebuild) is held: the oldest revision is then
// the revision it started at.
//
// Invariants: oldest() <= newest(); for every entry, its first change is
// at or below oldest(), so TotalsAt(entry, R) for any R in [oldest(),
// newest()] is the last change at or below R.
//
// Not thread-safe: AggregatorState guards it with its lock (the committer
// records under the writer lock, readers read under the reader lock).
#ifndef TALLY_SERVICES_AGGREGATOR_RESULTS_HISTORY_H_
#define TALLY_SERVICES_AGGREGATOR_RESULTS_HISTORY_H_

#include <cstdint>
#include <deque>
#include <utility>
#include <vector>

#include "services/domain/election_index.h"
#include "services/domain/totals_book.h"
#include "tally/v1/feed.pb.h"
#include "tally/v1/results.pb.h"

namespace tally::aggregator {

class ResultsHistory {
 public:
  static constexpr uint64_t kDefaultRetained = 1000;

  // Revisions kept, at least 1 (the current one).
  void set_retained(uint64_t retained) {
    retained_ = retained == 0 ? 1 : retained;
  }
  uint64_t retained() const { return retained_; }

  // Forgets every change: `revision` becomes the only revision held, with
  // `totals` and `allocations` (one per contest) as its figures.
  void Reset(uint64_t revision, const TotalsBook& totals,
             const std::vector<v1::SeatAllocation>& allocations);

  // Notes what the durable commit `event` changed (its revision must be
  // above newest()), and lets go of revisions beyond the retained ones.
  void Record(const v1::Event& event, const TotalsBook& totals,
              const ElectionIndex& index);

  uint64_t oldest() const { return oldest_; }
  uint64_t newest() const { return newest_; }
  // Require oldest() <= revision <= newest().
  const v1::Totals& TotalsAt(uint32_t entry, uint64_t revision) const;
  const v1::SeatAllocation& AllocationAt(uint32_t contest_index,
                                         uint64_t revision) const;

 private:
  template <typename T>
  using Changes = std::deque<std::pair<uint64_t, T>>;
  template <typename T>
  static const T& At(const Changes<T>& changes, uint64_t revision);
  template <typename T>
  void Trim(Changes<T>& changes) const;

  uint64_t retained_ = kDefaultRetained;
  uint64_t oldest_ = 0;
  uint64_t newest_ = 0;
  // Revision at which every entry was last trimmed.
  uint64_t swept_ = 0;
  // Per totals entry, per contest: changes in revision order.
  std::vector<Changes<v1::Totals>> totals_;
  std::vector<Changes<v1::SeatAllocation>> allocations_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_RESULTS_HISTORY_H_
