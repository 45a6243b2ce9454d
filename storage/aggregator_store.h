// The aggregator's RocksDB store (docs/ARCHITECTURE.md, "The aggregator").
// One DB, column families:
//   protocols  (contest u16, station u32, version u32)  -> v1::ProtocolVersion
//              append-only: every accepted version with its provenance
//   latest     (contest u16, station u32)               -> LatestValue
//   totals     (contest u16, scope kind u8, scope id u32) -> v1::Totals
//   events     (revision u64)                           -> v1::Event
//   conflicts  (contest u16, station u32, version u32, revision u64)
//              -> v1::ProtocolVersion refused as a conflicting version
//   meta       string keys: definition, definition digest, revision, epoch,
//              oldest retained event, per-collector applied sequence,
//              transparency log size and public key, per-contest decided
//              revision ("decided/<contest id>")
//   log_leaves (leaf index u64) -> version key: the leaf's data is the
//              LogEntry of that stored ProtocolVersion (so a changed
//              protocol changes its leaf, and the signed roots expose it)
//   log_nodes  (level u8, index u64) -> 32-byte hash of that complete
//              subtree of the transparency log
//   tree_heads (revision u64) -> v1::SignedTreeHead of that revision
//   tree_sizes (tree size u64) -> latest revision u64 with that tree size
//   cosignatures (tree size u64, witness name) -> v1::Cosignature
// All integers in keys are fixed-width big-endian so iteration order is
// numeric. One WriteBatch per commit covers everything, written with the
// WAL synced: a commit is durable when Commit returns OK.
#ifndef TALLY_STORAGE_AGGREGATOR_STORE_H_
#define TALLY_STORAGE_AGGREGATOR_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/key_encoding.h"
#include "storage/store_health.h"
#include "tally/v1/aggregator.pb.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/feed.pb.h"
#include "tally/v1/log.pb.h"
#include "tally/v1/results.pb.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace tally::storage {

// Everything one commit writes. Applied as one WriteBatch.
struct CommitBatch {
  // 0 when the commit changes no counted state (only cursors); the stored
  // revision is then left unchanged and no event is written.
  uint64_t revision = 0;
  struct Version {
    ProtocolKey key;
    v1::ProtocolVersion value;
  };
  std::vector<Version> protocols;
  std::vector<std::pair<ProtocolKey, LatestValue>> latest;
  std::vector<std::pair<TotalsKey, v1::Totals>> totals;
  std::vector<Version> conflicts;  // stored with `revision` in the key
  std::optional<v1::Event> event;  // stored under `revision`
  // collector id -> highest applied sequence.
  std::vector<std::pair<std::string, uint64_t>> cursors;
  // contest id -> the revision at which its allocation became decided
  // (SeatAllocation.decided_revision; 0: undecided again), for the contests
  // whose decided revision this round changed.
  std::vector<std::pair<std::string, uint64_t>> decided_revisions;
  // When set: delete events with revision < this and record it as the
  // oldest retained revision.
  std::optional<uint64_t> compact_events_below;
  // Replicas: the log round this batch applies (written even when the
  // round changes nothing else).
  std::optional<LogPosition> log_position;
  // The transparency log's part of a counting round (revision != 0): the
  // leaves it appends, the subtrees they complete and the revision's signed
  // head (services/transparency/log_appender.h). Every round that advances
  // the revision carries one, so every revision has its head.
  struct LogAppend {
    // Index of leaves[0]: the stored log size (checked).
    uint64_t first_leaf = 0;
    // The stored protocol version each new leaf is.
    std::vector<VersionKey> leaves;
    std::vector<std::pair<LogNodeKey, std::array<uint8_t, 32>>> nodes;
    // Its revision is the batch's; its tree size first_leaf + leaves.
    v1::SignedTreeHead head;
  };
  std::optional<LogAppend> log;
  // Sync the WAL before Commit returns. A single aggregator acknowledges
  // what its own disk holds, so it syncs; replicas apply a log that etcd
  // already holds durably and sync only before they report a position
  // (SyncWal), which is what log truncation trusts.
  bool sync = true;
};

struct StoreOptions {
  bool create_if_missing = true;
  // Block cache for reads of history and events, bytes.
  size_t block_cache_bytes = 64 << 20;
  // Read every SST block once at open to check its checksum, so that a
  // damaged store is refused before it is served (see store_health.h);
  // costs a read of the whole store, beside the rest of the start-up.
  bool verify_files_at_open = true;
};

class AggregatorStore {
 public:
  static absl::StatusOr<std::unique_ptr<AggregatorStore>> Open(
      const std::string& path, const StoreOptions& options = {});
  ~AggregatorStore();
  AggregatorStore(const AggregatorStore&) = delete;
  AggregatorStore& operator=(const AggregatorStore&) = delete;

  // --- Start-up ------------------------------------------------------------
  // The definition the store was created with (nullopt on a new store).
  absl::StatusOr<std::optional<v1::ElectionDefinition>> LoadDefinition();
  // Written once, synced, on first start. Saving the same definition again
  // is a no-op; a different one is FailedPrecondition (a store belongs to
  // one election).
  absl::Status SaveDefinition(const v1::ElectionDefinition& definition);
  // The stored definition digest (services/domain/definition_digest.h;
  // nullopt on a new store).
  absl::StatusOr<std::optional<std::string>> LoadDefinitionDigest();
  // Last committed revision (0 on a new store).
  uint64_t revision() const;
  // Oldest event revision still stored (revision()+1 when none yet).
  uint64_t oldest_event_revision() const;
  absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> LoadCursors();
  // contest id -> stored decided revision (CommitBatch::decided_revisions;
  // contests never decided are absent).
  absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>>
  LoadDecidedRevisions();
  absl::Status ForEachTotals(
      const std::function<absl::Status(const TotalsKey&, v1::Totals)>& fn);
  absl::Status ForEachLatest(
      const std::function<absl::Status(const ProtocolKey&, const LatestValue&)>&
          fn);
  // Every `latest` record in key order, handed to fn in chunks of up to
  // `chunk` records (fewer calls and allocations than one per record).
  using LatestRecords = std::vector<std::pair<ProtocolKey, LatestValue>>;
  absl::Status ForEachLatestChunk(
      size_t chunk, const std::function<absl::Status(LatestRecords)>& fn);
  // Monotonic fencing epoch: reads, increments and persists it (synced).
  absl::StatusOr<uint64_t> BumpEpoch();
  // Replication: the last applied log round (nullopt: never a replica).
  absl::StatusOr<std::optional<LogPosition>> LoadLogPosition();
  // The replicated cluster this store belongs to (nullopt: none yet).
  absl::StatusOr<std::optional<std::string>> LoadClusterId();
  // Binds the store to a cluster, synced; a different id is
  // FailedPrecondition (the store holds another cluster's log).
  absl::Status SaveClusterId(const std::string& cluster_id);
  // Makes every commit so far durable (after unsynced commits).
  absl::Status SyncWal();
  // The transparency log's public key (32 raw bytes) the store's heads are
  // signed with (nullopt on a store without heads yet). Saved once,
  // synced; a different key is FailedPrecondition naming both
  // fingerprints' owner (the store keeps one log).
  absl::StatusOr<std::optional<std::string>> LoadLogPublicKey();
  absl::Status SaveLogPublicKey(const std::string& raw_key);
  // A consistent copy of the whole store in `dir` (which must not exist),
  // made of hard links where possible: what a peer copies to join.
  absl::Status CreateCheckpoint(const std::string& dir);

  // --- Commit --------------------------------------------------------------
  // Durable when OK. A refused write (full disk, I/O error) is the
  // WriteFault of store_health.h and leaves the store as it was; later
  // writes fail too until ResumeWrites succeeds.
  absl::Status Commit(const CommitBatch& batch);
  // After a failed write: OK once the store accepts synced writes again
  // (store_health.h ResumeWrites); the failure that remains otherwise.
  absl::Status ResumeWrites();
  const std::string& data_dir() const { return where_.data_dir; }

  // --- Reads (safe concurrently with Commit) -------------------------------
  absl::StatusOr<std::optional<v1::ProtocolVersion>> GetVersion(
      const ProtocolKey& key, uint32_t version);
  // Every stored version of one protocol, oldest first.
  absl::StatusOr<std::vector<v1::ProtocolVersion>> History(
      const ProtocolKey& key);
  // Every stored version of every protocol, in key order (verification).
  absl::Status ForEachProtocolVersion(
      const std::function<absl::Status(const ProtocolKey&, uint32_t version,
                                       const v1::ProtocolVersion&)>& fn);
  absl::Status ForEachConflict(
      const std::function<absl::Status(const ProtocolKey&,
                                       const v1::ProtocolVersion&)>& fn);
  // Events with from <= revision <= to, in order; stops early when fn
  // returns false.
  absl::Status ReadEvents(uint64_t from, uint64_t to,
                          const std::function<bool(v1::Event)>& fn);

  // --- The transparency log (reads safe concurrently with Commit) ---------
  // Leaves in the log as of the last commit.
  uint64_t log_size() const;
  // (*hashes)[i] = hash of nodes[i]; DataLoss naming a missing node.
  absl::Status ReadLogNodes(const std::vector<LogNodeKey>& nodes,
                            std::vector<std::array<uint8_t, 32>>* hashes);
  // The stored versions that are leaves [start, end), in order (end <=
  // log_size()). DataLoss naming the leaf when one is missing.
  absl::StatusOr<std::vector<v1::ProtocolVersion>> ReadLeaves(uint64_t start,
                                                              uint64_t end);
  absl::StatusOr<std::optional<v1::SignedTreeHead>> LoadTreeHead(
      uint64_t revision);
  // The latest revision whose head has `tree_size` leaves.
  absl::StatusOr<std::optional<uint64_t>> RevisionOfTreeSize(
      uint64_t tree_size);
  // Keeps a witness's cosignature of the checkpoint of `tree_size`,
  // replacing that witness's earlier one for this size. Synced.
  absl::Status SaveCosignature(uint64_t tree_size, const v1::Cosignature& c);
  // Every kept cosignature of `tree_size`, ordered by witness name.
  absl::StatusOr<std::vector<v1::Cosignature>> LoadCosignatures(
      uint64_t tree_size);

 private:
  AggregatorStore() = default;
  // Every meta record under `prefix`: the rest of its key -> its u64.
  absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>> LoadMetaU64s(
      const char* op, const char* prefix);
  struct Handles;
  StoreLocation where_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<Handles> handles_;
  std::atomic<uint64_t> revision_{0};
  std::atomic<uint64_t> oldest_event_{1};
  std::atomic<uint64_t> log_size_{0};
  // Serialises writers (Commit, BumpEpoch, SaveDefinition) so that the
  // read-check-write of revision, epoch and definition is atomic. Readers
  // never take it.
  std::mutex write_mutex_;
};

}  // namespace tally::storage

#endif  // TALLY_STORAGE_AGGREGATOR_STORE_H_
