// Feed watchers: many concurrent Feed.Watch streams (callback API, spread
// over several connections), each measuring the delivery lag of every live
// event: the time it arrives minus the event's committed_at (the start of
// the aggregator's commit round, so the lag includes the synced write).
#ifndef TALLY_CLIENTS_BENCH_FEED_LOAD_H_
#define TALLY_CLIENTS_BENCH_FEED_LOAD_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "clients/bench/latency.h"

namespace tally::bench {

struct WatcherStats {
  uint64_t watchers = 0;
  uint64_t snapshots_complete = 0;  // watchers that got their snapshot
  uint64_t still_open = 0;          // streams open when the run ended
  uint64_t failed = 0;              // streams that ended with an error
  uint64_t events = 0;              // live events received, all watchers
  uint64_t resyncs = 0;
  uint64_t bytes = 0;
  uint64_t max_revision = 0;
  double connect_seconds = 0;  // until every snapshot was complete
  LatencySamples lag;
};

class WatcherSwarm {
 public:
  // Opens `watchers` streams from revision 0 against `address`, over
  // ceil(watchers / per_connection) connections.
  WatcherSwarm(const std::string& address, uint32_t watchers,
               uint32_t per_connection, bool include_stations);
  ~WatcherSwarm();
  // Waits until every watcher has its snapshot (or `timeout`).
  bool WaitSnapshots(absl::Duration timeout);
  // Drops the lag samples gathered so far (events replayed at start).
  void ResetSamples();
  // Waits until some watcher has seen `revision`.
  bool WaitRevision(uint64_t revision, absl::Duration timeout);
  // Cancels every stream and gathers the figures.
  WatcherStats Finish();

  class Watcher;

 private:
  std::vector<std::unique_ptr<Watcher>> watchers_;
  absl::Time started_;
  double connect_seconds_ = 0;
  struct Connections;
  std::unique_ptr<Connections> connections_;
};

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_FEED_LOAD_H_
