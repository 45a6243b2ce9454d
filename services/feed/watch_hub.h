// tally.v1.Feed.Watch, served by the aggregator (events from its committer
// and its stored event log) and by the relay (events from its upstream and
// its in-memory ring): fans events out to watchers with the gRPC callback
// API. It knows nothing of storage: replays come from an EventSource and
// snapshots from a SnapshotFn, so the relay uses it without RocksDB.
//
// Semantics (docs/ARCHITECTURE.md, "The feed"):
//  - from_revision 0: the current state as Snapshot messages (chunked), a
//    SnapshotComplete, then live events after the snapshot's revision.
//  - from_revision R > 0: every retained event after R (replayed from the
//    EventSource), then live. If R + 1 is older than the oldest retained event,
//    one Compacted message and the stream ends OK. R above the current
//    revision: OUT_OF_RANGE (UNAVAILABLE on a replica that has not applied
//    it yet, see WatchHubOptions::ahead_is_unavailable).
//  - Filters: contest_ids and scopes select the totals and allocations of
//    each event; an event with nothing selected is not sent (progress
//    notifications keep the watcher's revision current). Station updates
//    only with include_stations.
//  - Every watcher has a bounded queue. A watcher that falls behind (queue
//    full) loses its queue and gets Resync, then a fresh snapshot, then live
//    events: it never slows ingestion or other watchers.
//  - While idle, a ProgressNotify with the current revision every
//    progress interval.
//
// Threading: Publish is called by one thread in revision order (the
// aggregator's committer once a commit is durable and the state lock is
// released; the relay's upstream thread once its state has the event).
// SnapshotFn takes the state's lock itself and may return a revision newer
// than the last published one; live events at or below a watcher's
// snapshot revision are skipped.
#ifndef TALLY_SERVICES_FEED_WATCH_HUB_H_
#define TALLY_SERVICES_FEED_WATCH_HUB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "tally/v1/feed.grpc.pb.h"
#include "tally/v1/feed.pb.h"

namespace tally::feed {

// A consistent view of the current state.
struct SnapshotView {
  uint64_t revision = 0;
  std::vector<v1::Totals> totals;
  std::vector<v1::SeatAllocation> allocations;
  v1::Progress progress;
  // The transparency log's signed head of `revision` (empty at 0), sent
  // on every Snapshot message unchanged.
  v1::SignedTreeHead signed_head;
  // Every flagged (contest, scope) at `revision` (election forensics).
  std::vector<v1::ScopeFlags> forensics_flags;
};

// Where replayed events come from (the aggregator's store; a relay's
// memory). Must be safe to call from any thread.
class EventSource {
 public:
  virtual ~EventSource() = default;
  // Oldest revision still available (current + 1 when none yet).
  virtual uint64_t oldest_revision() const = 0;
  // Events with from <= revision <= to, in order; stop when fn returns
  // false. Returns false on a read error.
  virtual bool Read(uint64_t from, uint64_t to,
                    const std::function<bool(const v1::Event&)>& fn) = 0;
};

struct WatchHubOptions {
  // Messages queued per watcher before it is resynchronised.
  size_t queue_limit = 1024;
  // Progress interval when the request gives none.
  absl::Duration default_progress_interval = absl::Seconds(1);
  absl::Duration min_progress_interval = absl::Milliseconds(50);
  // Totals per Snapshot message.
  size_t snapshot_chunk = 256;
  // A replica of a replicated aggregator may not have applied yet a
  // revision another replica published: a watch from a revision ahead of
  // this hub is then UNAVAILABLE (retry, or another replica) instead of
  // OUT_OF_RANGE (a revision that does not exist).
  bool ahead_is_unavailable = false;
};

class WatchHub : public v1::Feed::CallbackService {
 public:
  using SnapshotFn = std::function<SnapshotView()>;

  WatchHub(EventSource* events, SnapshotFn snapshot, uint64_t revision,
           WatchHubOptions options = {});
  ~WatchHub() override;

  // A durable commit. Never blocks on a watcher.
  void Publish(std::shared_ptr<const v1::Event> event);

  // Ends every watcher's stream (OK) and refuses new ones (UNAVAILABLE);
  // waits until every reactor is done. Call before the server shuts down.
  void Shutdown();

  size_t watcher_count() const;
  uint64_t published_revision() const;
  // Watchers resynchronised since start (a slow-watcher indicator).
  uint64_t resync_count() const;

  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context,
      const v1::WatchRequest* request) override;

 private:
  class Watcher;
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tally::feed

#endif  // TALLY_SERVICES_FEED_WATCH_HUB_H_
