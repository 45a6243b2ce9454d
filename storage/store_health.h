// What a RocksDB store does when its disk fails it, shared by the
// aggregator's and the collector's store:
//   - a write RocksDB refused becomes a status that names the store, its
//     data directory and the cause: RESOURCE_EXHAUSTED "no space left on
//     device" for a full disk, UNAVAILABLE for any other failed write;
//   - after a failed write RocksDB 7.8 refuses every later write (its
//     background error) until DB::Resume(), which flushes the memtables to
//     a fresh WAL; ResumeWrites asks for that and proves it with one small
//     synced write, so "writable again" means a write got through;
//   - a store whose files are damaged (a truncated or corrupted MANIFEST,
//     SST or WAL, block checksums that do not match) is refused at open
//     with one line: which store, which file when RocksDB names one, and
//     what the operator can do. It is never served.
// Stateless functions; thread-safe as the DB they are given.
#ifndef TALLY_STORAGE_STORE_HEALTH_H_
#define TALLY_STORAGE_STORE_HEALTH_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Status;
struct DBOptions;
}  // namespace rocksdb

namespace tally::storage {

// Named in every fault message of a store.
struct StoreLocation {
  // "aggregator" or "collector".
  std::string store;
  std::string data_dir;
  // What the operator can do with a damaged store (one sentence).
  std::string damaged_advice;
};

// The status of a write that RocksDB refused (`s` not OK): nothing of it
// is durable. Full disk: RESOURCE_EXHAUSTED naming the data directory and
// "no space left on device"; any other I/O error or a background error
// still in force: UNAVAILABLE; corruption: DATA_LOSS.
absl::Status WriteFault(const StoreLocation& where, absl::string_view operation,
                        const rocksdb::Status& s);

// Whether `status` (from WriteFault) says the disk is full.
bool IsDiskFull(const absl::Status& status);

// Leaves the recovery from a failed write to ResumeWrites alone. RocksDB's
// automatic recovery from a full disk waits until the disk has room for
// every memtable of the store (on a small disk, possibly never) and,
// while it waits, refuses a manual Resume as busy; its retry of other
// write errors resumes behind the caller's back. Both are turned off
// here (a listener declines the automatic recovery, and no automatic
// resume attempts).
void UseManualRecovery(rocksdb::DBOptions& options);

// After a failed write: DB::Resume(), then one synced write of a probe key
// into `probe_family`. OK once the store accepts synced writes again;
// otherwise the WriteFault of what still fails (the disk may still be
// full). Cheap when there is nothing to resume. Serialise with the store's
// other writers.
absl::Status ResumeWrites(rocksdb::DB* db,
                          rocksdb::ColumnFamilyHandle* probe_family,
                          const StoreLocation& where);

// Reads every block of every SST file and checks its checksum (RocksDB
// checks MANIFEST, WAL records and SST sizes while opening, data blocks
// only when they are read). DATA_LOSS (see DamagedStore) on a mismatch.
absl::Status VerifyStoreFiles(rocksdb::DB* db, const StoreLocation& where);

// Refuses to open a directory that holds store files (SST, WAL, MANIFEST)
// but no CURRENT file (RocksDB would start a new, empty store over them),
// or a DAMAGED file (written by CheckNotEmptied).
absl::Status CheckStoreFilesComplete(const StoreLocation& where);

// Before opening: the MANIFEST that CURRENT names, when the directory
// also holds SST files (else empty).
std::string ManifestOfTables(const StoreLocation& where);

// After opening: OK unless the store opened as if new (it lists no SST
// file and has no `first_start_record`, which the servers write at a
// store's first start) although its directory held SST files (`manifest`,
// from ManifestOfTables, not empty): the MANIFEST no longer lists them (it was
// cut short; RocksDB takes a MANIFEST cut at a record boundary for one
// whose last write did not complete, and its open then deletes the SST
// files it does not know). Then DATA_LOSS naming the MANIFEST; the finding
// is also written to a DAMAGED file in the directory, so that every later
// start is refused too until an operator has dealt with it. An error
// reading the record is returned as it is.
absl::Status CheckNotEmptied(
    rocksdb::DB* db, const StoreLocation& where, const std::string& manifest,
    const absl::StatusOr<std::optional<std::string>>& first_start_record);

// The checks after a store opened: VerifyStoreFiles (when
// `verify_files`), then CheckNotEmptied with `first_start_record`.
absl::Status CheckOpenedStore(
    rocksdb::DB* db, const StoreLocation& where, const std::string& manifest,
    bool verify_files,
    const absl::StatusOr<std::optional<std::string>>& first_start_record);

// The status of a failed DB::Open (`s` not OK). Corruption, and I/O errors
// about the store's own files, are DATA_LOSS with one line: "the <store>
// store in <dir> is damaged (file <name>): <RocksDB's words>; it is not
// served: <advice>". Anything else keeps RocksDB's words with the store
// and directory.
absl::Status OpenFault(const StoreLocation& where, const rocksdb::Status& s);

}  // namespace tally::storage

#endif  // TALLY_STORAGE_STORE_HEALTH_H_
