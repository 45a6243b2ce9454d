// The aggregator's way back from a round that could not be made durable
// (a full disk, an I/O error), without a restart. The committer applies a
// round to the in-memory state (totals, counted versions, cursors) before
// it writes it, under the state's writer lock; when the write fails,
// memory is ahead of the store. Then:
//   1. OnCommitFailed (committer thread, writer lock still held, so no
//      reader saw the round): the aggregator is degraded with the write's
//      status, and the state is rebuilt from what is durable in the store
//      (AggregatorState::Rebuild). The committer fails the round's batches
//      with that status; nothing of the round was acknowledged or
//      published to the feed.
//   2. While degraded, status() is the refusal that every new batch and
//      every new Ingest stream gets (RESOURCE_EXHAUSTED "no space left on
//      device" naming the data directory, or UNAVAILABLE): collectors keep
//      their outboxes and retry. Reads and the feed keep serving.
//   3. A thread of its own asks the store to resume writes every
//      retry_interval (AggregatorStore::ResumeWrites: RocksDB's Resume and
//      one synced probe write); once a write gets through, status() is OK
//      and ingest resumes.
// If the state cannot be rebuilt, or the store reports lost data, the
// aggregator stays degraded (reads still served): only a restart from an
// intact store helps, and the log line says so.
//
// The mechanism is "rebuild the state from the store and resume", kept
// apart from the committer so that any path that applies rounds to memory
// before they are durable can use it.
//
// Threading: OnCommitFailed with the state's writer lock held; status()
// and degraded() from any thread. Lock order: state mu, then mu_.
#ifndef TALLY_SERVICES_AGGREGATOR_STORAGE_RECOVERY_H_
#define TALLY_SERVICES_AGGREGATOR_STORAGE_RECOVERY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "services/aggregator/aggregator_state.h"
#include "services/observability/metrics.h"
#include "storage/aggregator_store.h"

namespace tally::aggregator {

struct StorageRecoveryOptions {
  // How often a degraded aggregator asks the store to resume writes.
  absl::Duration retry_interval = absl::Seconds(1);
  // Where tally_storage_degraded and the failure and recovery counters
  // are registered. Null: a private registry nobody scrapes.
  obs::MetricsRegistry* metrics = nullptr;
};

class StorageRecovery {
 public:
  StorageRecovery(AggregatorState* state, storage::AggregatorStore* store,
                  StorageRecoveryOptions options = {});
  ~StorageRecovery();
  StorageRecovery(const StorageRecovery&) = delete;
  StorageRecovery& operator=(const StorageRecovery&) = delete;

  void Start();
  // Joins the resume thread; the aggregator stays as degraded as it was.
  void Stop();

  // A round was applied to the state and its write (or a read it needed)
  // failed with `status`: degrades, and rebuilds the state from the store.
  // The caller holds the state's writer lock (checked at run time: the
  // caller names the lock through its own pointer to the state).
  void OnCommitFailed(const absl::Status& status);

  // OK while the store takes writes; else why new work is refused.
  absl::Status status() const;
  bool degraded() const { return degraded_.load(); }

 private:
  void Run();

  AggregatorState* const state_;
  storage::AggregatorStore* const store_;
  const StorageRecoveryOptions options_;
  std::unique_ptr<obs::MetricsRegistry> private_metrics_;
  obs::Counter* failures_;
  obs::Counter* recoveries_;
  std::atomic<bool> degraded_{false};

  mutable absl::Mutex mu_;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  // The state could not be rebuilt or data was lost: no resuming.
  bool permanent_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_STORAGE_RECOVERY_H_
