// RocksDB's informational log (the LOG file in a store's directory) for
// both stores, written so that a full disk cannot take the process down.
// RocksDB's own file logger marks its file writer failed on the first
// ENOSPC, and the next line it logs trips an assertion in Debian's build
// of RocksDB 7.8 (the process aborts: seen on a full tmpfs, logged from
// the SstFileManager's recovery thread). This logger writes the same lines
// to the same LOG file with plain stdio and drops what cannot be written.
// At open the previous LOG becomes LOG.old.<microseconds> and only the
// newest kKeptOldLogs of those are kept, as RocksDB does.
// Thread-safe (RocksDB logs from its background threads).
#ifndef TALLY_STORAGE_STORE_INFO_LOG_H_
#define TALLY_STORAGE_STORE_INFO_LOG_H_

#include <memory>
#include <string>

namespace rocksdb {
class Logger;
}  // namespace rocksdb

namespace tally::storage {

inline constexpr int kKeptOldLogs = 4;

// The logger for a store in `data_dir` (created if missing). Never null:
// if the file cannot be opened the lines are dropped.
std::shared_ptr<rocksdb::Logger> OpenStoreInfoLog(const std::string& data_dir);

}  // namespace tally::storage

#endif  // TALLY_STORAGE_STORE_INFO_LOG_H_
