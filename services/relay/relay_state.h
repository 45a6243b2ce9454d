// What a relay knows of its upstream's feed: the current state (latest
// Totals per (contest, scope), SeatAllocation per (contest, scope),
// Progress, revision) and a ring of the most recent events for resumption.
// Revisions are the aggregator's, so a watcher can move between relays and
// the aggregator with its last revision.
//
// Thread-safe: the upstream thread writes (Reset, Apply); the watch hub's
// threads read (Snapshot, and the EventSource interface for replays).
#ifndef TALLY_SERVICES_RELAY_RELAY_STATE_H_
#define TALLY_SERVICES_RELAY_RELAY_STATE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/feed/watch_hub.h"
#include "tally/v1/feed.pb.h"

namespace tally::relay {

class RelayState : public feed::EventSource {
 public:
  // Keeps at most `retained_events` events (at least one).
  explicit RelayState(size_t retained_events);

  // Replaces everything with a complete upstream snapshot. `history` are
  // the events up to the snapshot's revision that the upstream still had
  // (contiguous, ending at view.revision; may be empty): they seed the ring
  // so that watchers coming from elsewhere can resume here. Events that do
  // not fit that shape are dropped.
  void Reset(feed::SnapshotView view,
             std::vector<std::shared_ptr<const v1::Event>> history = {});

  // Applies the next event. It must follow the current revision exactly
  // (revision + 1) and a snapshot must have been installed; otherwise the
  // state is unchanged and an error says why.
  absl::Status Apply(std::shared_ptr<const v1::Event> event);

  // The current state, totals in the upstream snapshot's order.
  feed::SnapshotView Snapshot() const;

  bool complete() const;
  uint64_t revision() const;

  // EventSource.
  uint64_t oldest_revision() const override;
  bool Read(uint64_t from, uint64_t to,
            const std::function<bool(const v1::Event&)>& fn) override;

 private:
  using Key = std::pair<std::string, std::pair<int, std::string>>;
  static Key KeyOf(const std::string& contest, const v1::Scope& scope);

  const size_t retained_;
  mutable absl::Mutex mu_;
  bool complete_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<v1::Totals> totals_ ABSL_GUARDED_BY(mu_);
  std::map<Key, size_t> totals_index_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::SeatAllocation> allocations_ ABSL_GUARDED_BY(mu_);
  std::map<Key, size_t> allocations_index_ ABSL_GUARDED_BY(mu_);
  v1::Progress progress_ ABSL_GUARDED_BY(mu_);
  // The signed head of revision_, as the upstream sent it.
  v1::SignedTreeHead signed_head_ ABSL_GUARDED_BY(mu_);
  // The flagged (contest, scope)s (election forensics) at revision_.
  std::map<Key, v1::ScopeFlags> forensics_flags_ ABSL_GUARDED_BY(mu_);
  std::deque<std::shared_ptr<const v1::Event>> ring_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tally::relay

#endif  // TALLY_SERVICES_RELAY_RELAY_STATE_H_
