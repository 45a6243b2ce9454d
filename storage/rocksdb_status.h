// The storage boundary's one translation of RocksDB results into
// absl::Status, shared by both stores (aggregator_store, collector_store),
// and the point reads built on it.
//
// Every message names the store and the operation and keeps RocksDB's own
// text, e.g. "CollectorStore::Append: IO error: No space left on device:
// While appending to file: .../000012.log: No space left on device". Codes:
//   Corruption                   DATA_LOSS
//   NotFound                     NOT_FOUND
//   InvalidArgument              INVALID_ARGUMENT
//   NoSpace (a full disk)        RESOURCE_EXHAUSTED
//   Busy, TimedOut, TryAgain     UNAVAILABLE
//   anything else                INTERNAL
// Pure functions; the reads are as thread-safe as RocksDB's Get.
#ifndef TALLY_STORAGE_ROCKSDB_STATUS_H_
#define TALLY_STORAGE_ROCKSDB_STATUS_H_

#include <rocksdb/db.h>
#include <rocksdb/status.h>

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::storage {

// OK stays OK. `store` and `operation` name where it happened
// ("AggregatorStore", "Commit").
absl::Status FromRocksDb(absl::string_view store, absl::string_view operation,
                         const rocksdb::Status& status);

// A stored key or value that cannot be decoded: lost data (DATA_LOSS),
// whatever code the decoder used.
absl::Status Corrupted(absl::string_view store, absl::string_view operation,
                       absl::string_view what, absl::string_view detail);

// One key of `family`; nullopt when it is absent.
absl::StatusOr<std::optional<std::string>> ReadValue(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
    absl::string_view store, absl::string_view operation,
    const std::string& key);

// A u64 stored as a fixed-width big-endian value (key_encoding's
// EncodeRevision); `absent` when the key does not exist yet.
absl::StatusOr<uint64_t> ReadU64(rocksdb::DB* db,
                                 rocksdb::ColumnFamilyHandle* family,
                                 absl::string_view store,
                                 absl::string_view operation,
                                 const std::string& key, uint64_t absent);

}  // namespace tally::storage

#endif  // TALLY_STORAGE_ROCKSDB_STATUS_H_
