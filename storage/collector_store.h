// The collector's RocksDB store (docs/ARCHITECTURE.md, "The collectors").
// One DB, column families:
//   outbox  (seq u64)                      -> v1::OutboxEntry
//           protocols durably accepted, not yet acknowledged by the
//           aggregator; sequences are contiguous from acked_seq+1 to last_seq
//   latest  (contest u16, station u32)     -> version u32 | digest 32 bytes
//           the newest version accepted here, so that duplicates, stale
//           versions and conflicts are answered locally
//   meta    string keys: last seq, acked seq, definition digest
// Append writes entries, latest values and the last sequence as one
// WriteBatch with the WAL synced: an entry is durable when Append returns.
// A refused write (full disk, I/O error) is the WriteFault of
// store_health.h: nothing of it is durable, and the next write first asks
// RocksDB to resume.
#ifndef TALLY_STORAGE_COLLECTOR_STORE_H_
#define TALLY_STORAGE_COLLECTOR_STORE_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/key_encoding.h"
#include "storage/store_health.h"
#include "tally/v1/aggregator.pb.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
}  // namespace rocksdb

namespace tally::storage {

inline constexpr size_t kCollectorLatestSize = 36;

// The newest version of one (contest, station) accepted by this collector.
struct CollectorLatest {
  uint32_t version = 0;
  std::array<uint8_t, 32> digest{};
  friend bool operator==(const CollectorLatest&,
                         const CollectorLatest&) = default;
};

std::string EncodeCollectorLatest(const CollectorLatest& value);
absl::StatusOr<CollectorLatest> DecodeCollectorLatest(std::string_view bytes);

class CollectorStore {
 public:
  static absl::StatusOr<std::unique_ptr<CollectorStore>> Open(
      const std::string& path);
  ~CollectorStore();
  CollectorStore(const CollectorStore&) = delete;
  CollectorStore& operator=(const CollectorStore&) = delete;

  // The digest of the definition the store was created with (nullopt on a
  // new store). Saving binds the store to that election; a different
  // digest later is FailedPrecondition.
  absl::StatusOr<std::optional<std::string>> LoadDefinitionDigest();
  absl::Status SaveDefinitionDigest(const std::string& digest);

  // Appends `protocols` as outbox entries numbered last_seq()+1, +2, ...
  // together with `latest` updates, in one synced WriteBatch. Returns the
  // first sequence assigned (last_seq()+1 when `protocols` is empty).
  absl::StatusOr<uint64_t> Append(
      const std::vector<v1::StationProtocol>& protocols,
      const std::vector<std::pair<ProtocolKey, CollectorLatest>>& latest);

  // Up to `max_entries` outbox entries with seq > after_seq, in order.
  absl::StatusOr<std::vector<v1::OutboxEntry>> ReadFrom(uint64_t after_seq,
                                                        size_t max_entries);

  // The aggregator holds every entry with seq <= `seq` durably: deletes
  // them and records the acknowledged sequence. A sequence at or below
  // acked_seq() is a no-op. A sequence above last_seq() (the aggregator
  // applied entries of an earlier store under this collector id) also
  // raises last_seq(), so new entries are never mistaken for resends. Not
  // synced: after a crash the entries are resent and the aggregator
  // recognises them by sequence.
  absl::Status AckUpTo(uint64_t seq);

  // After a failed write (Append, AckUpTo), later writes fail too until
  // the store resumes: OK once it accepts synced writes again
  // (store_health.h ResumeWrites); the failure that remains otherwise.
  // Append and AckUpTo call it themselves after a failure.
  absl::Status ResumeWrites();

  // Every latest record, for the in-memory index built at start.
  absl::Status ForEachLatest(
      const std::function<absl::Status(const ProtocolKey&,
                                       const CollectorLatest&)>& fn);

  uint64_t last_seq() const { return last_seq_.load(); }
  uint64_t acked_seq() const { return acked_seq_.load(); }
  // Entries waiting for the aggregator's acknowledgement.
  uint64_t depth() const;

 private:
  CollectorStore() = default;
  struct Handles;
  // With write_mutex_ held: resumes first if the last write failed.
  absl::Status ResumeIfFailedLocked();
  StoreLocation where_;
  // A write failed and the store has not resumed since (write_mutex_).
  bool write_failed_ = false;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<Handles> handles_;
  std::atomic<uint64_t> last_seq_{0};
  std::atomic<uint64_t> acked_seq_{0};
  // Serialises writers: sequence assignment and the meta values they move.
  std::mutex write_mutex_;
};

}  // namespace tally::storage

#endif  // TALLY_STORAGE_COLLECTOR_STORE_H_
