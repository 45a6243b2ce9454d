// Group commit of submissions (docs/ARCHITECTURE.md, "The collectors",
// durable outbox): every Submit and SubmitStream call hands its validated
// protocols to one writer thread, which classifies them against the newest
// version accepted here (duplicate, stale, conflict, accepted) and appends
// everything accepted in a round to the outbox in one synced WriteBatch.
// Only then does it answer.
#ifndef TALLY_SERVICES_COLLECTOR_OUTBOX_WRITER_H_
#define TALLY_SERVICES_COLLECTOR_OUTBOX_WRITER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "storage/collector_store.h"
#include "tally/v1/protocol.pb.h"

namespace tally::collector {

// Events per second over a sliding window of whole seconds.
class RateMeter {
 public:
  explicit RateMeter(int window_seconds = 10);
  void Add(uint64_t count, absl::Time now = absl::Now());
  double PerSecond(absl::Time now = absl::Now()) const;

 private:
  void AdvanceLocked(int64_t second) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int window_;
  mutable absl::Mutex mu_;
  mutable std::vector<uint64_t> buckets_ ABSL_GUARDED_BY(mu_);
  mutable int64_t current_second_ ABSL_GUARDED_BY(mu_) = 0;
};

// One validated protocol waiting for the writer.
struct Submission {
  // Validated, with digest and submitted_by set.
  v1::StationProtocol protocol;
  storage::ProtocolKey key;
  // Anomaly flags from validation, reported with the acceptance.
  std::vector<v1::Finding> findings;
  // Called on the writer thread with the verdict (sequence set when
  // accepted). Must not block.
  std::function<void(v1::ProtocolResult)> done;
};

class OutboxWriter {
 public:
  // Loads the latest index from the store.
  static absl::StatusOr<std::unique_ptr<OutboxWriter>> Create(
      storage::CollectorStore* store, std::function<void()> on_append);
  ~OutboxWriter();

  void Start();
  // Writes what is queued, answers later arrivals UNAVAILABLE, joins.
  void Stop();

  // Queues submissions. False when stopping (nothing was queued).
  bool Enqueue(std::vector<Submission> submissions);

  const RateMeter& submit_rate() const { return submit_rate_; }

  // OK unless the last outbox write failed (full disk, I/O error): then
  // its status, until a write succeeds again.
  absl::Status write_status() const;
  bool write_failing() const { return write_failing_.load(); }

 private:
  OutboxWriter(storage::CollectorStore* store, std::function<void()> on_append);
  void Run();
  void WriteRound(std::vector<Submission>& round);
  // Records the outcome of an outbox write; logs when it changes.
  void NoteWrite(const absl::Status& status);

  storage::CollectorStore* const store_;
  const std::function<void()> on_append_;
  RateMeter submit_rate_;
  // Writer thread only (and Create before Start).
  absl::flat_hash_map<storage::ProtocolKey, storage::CollectorLatest> latest_;

  mutable absl::Mutex health_mu_;
  absl::Status write_status_ ABSL_GUARDED_BY(health_mu_);
  std::atomic<bool> write_failing_{false};

  absl::Mutex mu_;
  std::deque<Submission> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace tally::collector

#endif  // TALLY_SERVICES_COLLECTOR_OUTBOX_WRITER_H_
