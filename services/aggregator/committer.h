// The single committer (docs/ARCHITECTURE.md, "The aggregator"): takes
// batches from every Ingest stream, classifies each protocol (accepted,
// duplicate, stale, rejected), applies accepted ones to the running totals,
// and writes everything a round produced as one synced RocksDB WriteBatch
// (group commit across streams). Only then are the batches acknowledged and
// the event published. A round that cannot be written (full disk, I/O
// error) fails its batches with the storage status and hands the state to
// StorageRecovery, which rebuilds it from the store; while that reports
// degraded, batches are refused with its status.
#ifndef TALLY_SERVICES_AGGREGATOR_COMMITTER_H_
#define TALLY_SERVICES_AGGREGATOR_COMMITTER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "services/aggregator/aggregator_state.h"
#include "services/aggregator/ingest_sink.h"
#include "services/aggregator/storage_recovery.h"
#include "services/domain/protocol_validation.h"
#include "services/feed/watch_hub.h"
#include "services/observability/metrics.h"
#include "storage/aggregator_store.h"
#include "tally/v1/aggregator.pb.h"

namespace tally::aggregator {

struct CommitterOptions {
  // Upper bound on protocols applied in one WriteBatch.
  size_t max_protocols_per_commit = 16384;
  // Events kept for Watch replay; older ones are deleted.
  uint64_t retained_events = 100000;
  // Where the committer's metrics are registered (outcomes, round size and
  // latency). Null: a private registry nobody scrapes.
  obs::MetricsRegistry* metrics = nullptr;
  // Single node: the committer takes batches from its own queue (Enqueue)
  // and groups them into rounds. Replicas: rounds come from the commit log
  // through ApplyRound only, and Enqueue is not used.
  bool own_queue = true;
};

struct CommitterStats {
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> protocols{0};
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> last_commit_protocols{0};
  std::atomic<uint64_t> last_commit_micros{0};
};

class Committer : public IngestSink {
 public:
  // `recovery` takes over when a round cannot be written; it must outlive
  // the committer.
  Committer(AggregatorState* state, storage::AggregatorStore* store,
            feed::WatchHub* hub, StorageRecovery* recovery, uint64_t epoch,
            CommitterOptions options = {});
  ~Committer();

  void Start();
  // Commits what is queued, refuses what arrives later, joins the thread.
  void Stop();

  // Validates every protocol of the batch against the (immutable) election
  // and computes its digest, on the caller's thread (an Ingest stream's),
  // so that the single committer only classifies against the counted
  // state and writes; then queues the batch. Not OK when the batch is
  // refused: UNAVAILABLE when stopping, the storage status while degraded
  // (the caller ends its stream with it). Memory stays bounded because
  // every stream keeps a bounded number of protocols in flight (see
  // IngestStream).
  absl::Status Enqueue(IngestItem item) override;

  // OK while batches are taken; else the status they are refused with.
  absl::Status Accepting() const override;

  // Classifies and writes `items` as one round (see RoundContext), then
  // acknowledges each through its `done` and publishes the round's event.
  // Not OK when the round could not be made durable: its batches were
  // refused with that status and StorageRecovery rebuilt the state. Only
  // one thread applies rounds: the queue's (own_queue) or the caller's.
  absl::Status ApplyRound(std::vector<IngestItem>& items,
                          const RoundContext& context);

  const CommitterStats& stats() const { return stats_; }

 private:
  void Run();

  // Refuses every batch of a round with `status` (nothing counted).
  static void FailRound(std::vector<IngestItem>& items,
                        const absl::Status& status);
  // The publisher thread: hands committed events to the watch hub in
  // revision order, so that offering an event to thousands of watchers
  // (and serialising it for each) never delays the next commit round.
  void RunPublisher();

  AggregatorState* const state_;
  storage::AggregatorStore* const store_;
  feed::WatchHub* const hub_;
  StorageRecovery* const recovery_;
  const uint64_t epoch_;
  const CommitterOptions options_;
  CommitterStats stats_;

  // Prometheus series (owned by options_.metrics or private_metrics_).
  std::unique_ptr<obs::MetricsRegistry> private_metrics_;
  obs::Counter* outcome_accepted_;
  obs::Counter* outcome_duplicate_;
  obs::Counter* outcome_stale_;
  obs::Counter* outcome_conflict_;
  obs::Counter* outcome_rejected_;
  obs::Histogram* round_protocols_;
  obs::Histogram* round_seconds_;

  mutable absl::Mutex queue_mu_;
  std::deque<IngestItem> queue_ ABSL_GUARDED_BY(queue_mu_);
  bool stopping_ ABSL_GUARDED_BY(queue_mu_) = false;
  std::thread thread_;

  absl::Mutex publish_mu_;
  std::deque<std::shared_ptr<const v1::Event>> to_publish_
      ABSL_GUARDED_BY(publish_mu_);
  bool publisher_stopping_ ABSL_GUARDED_BY(publish_mu_) = false;
  std::thread publisher_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_COMMITTER_H_
