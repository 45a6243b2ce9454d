#include "storage/rocksdb_status.h"

#include "absl/strings/str_cat.h"
#include "storage/key_encoding.h"

namespace tally::storage {

absl::Status FromRocksDb(absl::string_view store, absl::string_view operation,
                         const rocksdb::Status& status) {
  if (status.ok()) return absl::OkStatus();
  const std::string message =
      absl::StrCat(store, "::", operation, ": ", status.ToString());
  if (status.IsCorruption()) return absl::DataLossError(message);
  if (status.IsNotFound()) return absl::NotFoundError(message);
  if (status.IsInvalidArgument()) return absl::InvalidArgumentError(message);
  if (status.IsNoSpace()) return absl::ResourceExhaustedError(message);
  if (status.IsBusy() || status.IsTimedOut() || status.IsTryAgain()) {
    return absl::UnavailableError(message);
  }
  return absl::InternalError(message);
}

absl::Status Corrupted(absl::string_view store, absl::string_view operation,
                       absl::string_view what, absl::string_view detail) {
  return absl::DataLossError(
      absl::StrCat(store, "::", operation, ": corrupted ", what, ": ", detail));
}

absl::StatusOr<std::optional<std::string>> ReadValue(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* family,
    absl::string_view store, absl::string_view operation,
    const std::string& key) {
  std::string value;
  const rocksdb::Status status =
      db->Get(rocksdb::ReadOptions(), family, rocksdb::Slice(key), &value);
  if (status.IsNotFound()) return std::nullopt;
  if (!status.ok()) return FromRocksDb(store, operation, status);
  return value;
}

absl::StatusOr<uint64_t> ReadU64(rocksdb::DB* db,
                                 rocksdb::ColumnFamilyHandle* family,
                                 absl::string_view store,
                                 absl::string_view operation,
                                 const std::string& key, uint64_t absent) {
  absl::StatusOr<std::optional<std::string>> value =
      ReadValue(db, family, store, operation, key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return absent;
  absl::StatusOr<uint64_t> decoded = DecodeRevision(**value);
  if (!decoded.ok()) {
    return Corrupted(store, operation, absl::StrCat("meta/", key),
                     decoded.status().message());
  }
  return *decoded;
}

}  // namespace tally::storage
