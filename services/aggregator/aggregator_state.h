// The aggregator's in-memory state: the election, running totals, the
// counted version of every protocol, collector cursors and current seat
// allocations. The committer is the only writer (under the writer lock);
// RPC handlers and watch snapshots read under the reader lock. Rebuilt at
// start from the store's stored totals and latest versions, never by
// re-summing protocols. It also holds the transparency log's appender (its
// frontier and the digest of every total) and the signed head of the
// current revision, rebuilt with the rest and checked against the stored
// head: the tree's size and root and the totals digest must be what that
// head signed, or the store is refused as damaged. The election forensics
// statistics are not stored: they are rebuilt at start from the stored
// latest versions (one scan of the versions), as they would have been
// summed. The revision at which each contest became decided
// (SeatAllocation.decided_revision) is loaded from the store, where the
// round that decided it wrote it.
#ifndef TALLY_SERVICES_AGGREGATOR_AGGREGATOR_STATE_H_
#define TALLY_SERVICES_AGGREGATOR_AGGREGATOR_STATE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "services/aggregator/latest_loader.h"
#include "services/aggregator/results_history.h"
#include "services/domain/election_index.h"
#include "services/domain/forensics.h"
#include "services/domain/totals_book.h"
#include "services/feed/watch_hub.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/log_appender.h"
#include "storage/aggregator_store.h"
#include "tally/v1/feed.pb.h"
#include "tally/v1/forensics.pb.h"
#include "tally/v1/results.pb.h"

namespace tally::aggregator {

// What the transparency log's heads are signed with and bind.
struct LogSigning {
  transparency::Ed25519PrivateKey key;
  // SHA-256 of the definition's deterministic encoding, 32 raw bytes.
  std::string definition_digest;
};

class AggregatorState {
 public:
  // Loads revision, cursors, latest versions and totals from the store
  // and computes allocations. The store must hold `index`'s definition.
  // `latest` delivers the store's counted versions (the server starts
  // reading them before it loads the definition).
  // `forensics`: keep the election forensics (off: forensics() is never
  // updated and nothing is flagged).
  static absl::StatusOr<std::unique_ptr<AggregatorState>> Recover(
      std::unique_ptr<ElectionIndex> index, storage::AggregatorStore& store,
      LatestLoader& latest, LogSigning signing, bool forensics = true);

  // Rebuilds everything in memory from what is durable in the store, as
  // Recover does at start, into this state (readers keep their pointer):
  // the way back after a round was applied in memory and then could not
  // be written (see StorageRecovery). The store must hold this state's
  // election. On error the state is unusable and ingest must stay off.
  absl::Status Rebuild(storage::AggregatorStore& store)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  mutable absl::Mutex mu;

  const ElectionIndex& index() const { return *index_; }

  // --- Committer side (writer lock held) ----------------------------------
  TotalsBook& totals() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return totals_; }
  absl::flat_hash_map<storage::ProtocolKey, storage::LatestValue>& latest()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return latest_;
  }
  // Notes that a station now has a counted protocol for one more contest.
  void CountFirstReport(uint32_t station_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void SetCursor(const std::string& collector, uint64_t seq)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void set_revision(uint64_t revision) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    revision_ = revision;
  }
  void set_log_position(const storage::LogPosition& position)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    log_position_ = position;
  }
  // The transparency log's writing side: leaves, totals, heads.
  transparency::LogAppender& log() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return *log_;
  }
  void set_signed_head(v1::SignedTreeHead head)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    signed_head_ = std::move(head);
  }
  // Election forensics: updated with the totals, protocol by protocol.
  ForensicsBook& forensics() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return forensics_;
  }
  // Evaluates the flags of `entries` (the totals entries a round changed)
  // and adds the scopes whose flags changed to `event`.
  void UpdateForensicsFlags(const std::vector<uint32_t>& entries,
                            v1::Event* event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The figures of recent revisions (reset with the rest on a load; the
  // committer records each durable round's event).
  ResultsHistory& results_history() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return results_history_;
  }
  // Recomputes the seat allocation of one contest (own scope) from its
  // totals, with bounds for the ballots still outstanding, and whether it
  // is decided; its decided_revision follows from the previous one
  // (seat_decision.h NextDecidedRevision). The committer stores a changed
  // decided_revision with the round (CommitBatch::decided_revisions).
  const v1::SeatAllocation& RecomputeAllocation(uint32_t contest_index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  // --- Readers (reader or writer lock held) -------------------------------
  uint64_t revision() const ABSL_SHARED_LOCKS_REQUIRED(mu) { return revision_; }
  // Replicas: the last commit-log round applied ({0, 0} before any).
  const storage::LogPosition& log_position() const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return log_position_;
  }
  uint64_t Cursor(const std::string& collector) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  const TotalsBook& totals_view() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return totals_;
  }
  const v1::SeatAllocation& allocation(uint32_t contest_index) const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return allocations_[contest_index];
  }
  const ResultsHistory& results_history_view() const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return results_history_;
  }
  const storage::LatestValue* FindLatest(const storage::ProtocolKey& key) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  v1::Progress Progress() const ABSL_SHARED_LOCKS_REQUIRED(mu);
  // The signed head of revision(); empty at revision 0.
  const v1::SignedTreeHead& signed_head() const ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return signed_head_;
  }
  const LogSigning& log_signing() const { return signing_; }
  bool forensics_enabled() const { return forensics_enabled_; }
  // The forensics of one totals entry at revision(), and its flags.
  v1::ScopeForensics Forensics(uint32_t entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  const std::vector<v1::ForensicsFlag>& forensics_flags(uint32_t entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu) {
    return flags_[entry];
  }
  // Every flagged (contest, scope), in entry order.
  std::vector<v1::ScopeFlags> FlaggedScopes() const
      ABSL_SHARED_LOCKS_REQUIRED(mu);

  // A consistent copy of everything a watcher's snapshot needs (takes the
  // reader lock).
  feed::SnapshotView Snapshot() const ABSL_LOCKS_EXCLUDED(mu);

 private:
  AggregatorState(std::unique_ptr<ElectionIndex> index, LogSigning signing,
                  bool forensics);

  // Calls fn for every chunk of the store's `latest` records.
  using LatestSource = std::function<absl::Status(
      const std::function<absl::Status(
          const storage::AggregatorStore::LatestRecords&)>& fn)>;
  // Loads the store into a state that is new or was reset.
  absl::Status LoadLocked(storage::AggregatorStore& store,
                          const LatestSource& latest)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The forensics of the stored latest versions, and their flags.
  absl::Status LoadForensicsLocked(storage::AggregatorStore& store)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  v1::ScopeFlags ScopeFlagsOf(uint32_t entry) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  // The log's appender from the stored frontier and the loaded totals, and
  // the current revision's head, checked against both.
  absl::Status LoadLogLocked(storage::AggregatorStore& store)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);

  std::unique_ptr<ElectionIndex> index_;
  const LogSigning signing_;
  const bool forensics_enabled_;
  std::unique_ptr<transparency::LogAppender> log_ ABSL_GUARDED_BY(mu);
  v1::SignedTreeHead signed_head_ ABSL_GUARDED_BY(mu);
  TotalsBook totals_ ABSL_GUARDED_BY(mu);
  ForensicsBook forensics_ ABSL_GUARDED_BY(mu);
  // Per totals entry: its current flags (empty when not flagged).
  std::vector<std::vector<v1::ForensicsFlag>> flags_ ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<storage::ProtocolKey, storage::LatestValue> latest_
      ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, uint64_t> cursors_ ABSL_GUARDED_BY(mu);
  std::vector<v1::SeatAllocation> allocations_ ABSL_GUARDED_BY(mu);
  ResultsHistory results_history_ ABSL_GUARDED_BY(mu);
  // Station id -> number of contests with a counted protocol.
  absl::flat_hash_map<uint32_t, uint32_t> reported_contests_
      ABSL_GUARDED_BY(mu);
  uint64_t protocols_counted_ ABSL_GUARDED_BY(mu) = 0;
  uint64_t protocols_expected_ = 0;
  uint64_t revision_ ABSL_GUARDED_BY(mu) = 0;
  storage::LogPosition log_position_ ABSL_GUARDED_BY(mu);
};

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_AGGREGATOR_STATE_H_
