#include "storage/collector_store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "storage/key_encoding.h"
#include "storage/rocksdb_status.h"
#include "storage/store_info_log.h"

namespace tally::storage {
namespace {

constexpr char kStore[] = "CollectorStore";

constexpr char kOutbox[] = "outbox";
constexpr char kLatest[] = "latest";
constexpr char kMeta[] = "meta";

constexpr char kMetaLastSeq[] = "last_seq";
constexpr char kMetaAckedSeq[] = "acked_seq";
constexpr char kMetaDefinitionDigest[] = "definition_digest";

rocksdb::WriteOptions Synced() {
  rocksdb::WriteOptions write;
  write.sync = true;
  return write;
}

}  // namespace

std::string EncodeCollectorLatest(const CollectorLatest& value) {
  std::string out(kCollectorLatestSize, '\0');
  for (int i = 0; i < 4; ++i) {
    out[i] = static_cast<char>((value.version >> (24 - 8 * i)) & 0xff);
  }
  for (size_t i = 0; i < value.digest.size(); ++i) {
    out[4 + i] = static_cast<char>(value.digest[i]);
  }
  return out;
}

absl::StatusOr<CollectorLatest> DecodeCollectorLatest(std::string_view bytes) {
  if (bytes.size() != kCollectorLatestSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("collector latest value must be ", kCollectorLatestSize,
                     " bytes, got ", bytes.size()));
  }
  CollectorLatest value;
  for (int i = 0; i < 4; ++i) {
    value.version = (value.version << 8) | static_cast<uint8_t>(bytes[i]);
  }
  for (size_t i = 0; i < value.digest.size(); ++i) {
    value.digest[i] = static_cast<uint8_t>(bytes[4 + i]);
  }
  return value;
}

struct CollectorStore::Handles {
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  rocksdb::ColumnFamilyHandle* outbox() const { return all[1]; }
  rocksdb::ColumnFamilyHandle* latest() const { return all[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return all[3]; }
};

absl::StatusOr<std::unique_ptr<CollectorStore>> CollectorStore::Open(
    const std::string& path) {
  const std::string operation = absl::StrCat("Open(", path, ")");
  std::error_code ec;
  const std::filesystem::file_type type =
      std::filesystem::status(path, ec).type();
  if (type != std::filesystem::file_type::not_found &&
      type != std::filesystem::file_type::none &&
      type != std::filesystem::file_type::directory) {
    return absl::FailedPreconditionError(absl::StrCat(
        "CollectorStore::", operation, ": exists and is not a directory"));
  }
  StoreLocation where{
      "collector", path,
      absl::StrCat("move ", path,
                   " aside and start on an empty directory; the protocols "
                   "it held that the aggregator has not counted must then "
                   "be submitted again")};
  if (absl::Status complete = CheckStoreFilesComplete(where); !complete.ok()) {
    return complete;
  }
  const std::string manifest = ManifestOfTables(where);
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.info_log = OpenStoreInfoLog(path);
  UseManualRecovery(db_options);
  // Closed WALs and their synced sizes are recorded in the MANIFEST: a
  // missing or truncated one is refused at open (see store_health.h).
  db_options.track_and_verify_wals_in_manifest = true;
  // A WAL record that fails its checksum is damage, refused at open; only
  // an incomplete last record (a crash during its write, never
  // acknowledged) is dropped. Point-in-time recovery, the default, would
  // silently stop at a damaged record and drop every acknowledged write
  // after it.
  db_options.wal_recovery_mode =
      rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // The outbox is written and deleted all night; a small WAL cap keeps the
  // rarely written meta family from pinning old WAL files.
  db_options.max_total_wal_size = 64 << 20;
  db_options.keep_log_file_num = 5;
  rocksdb::ColumnFamilyOptions small;
  small.write_buffer_size = 4 << 20;
  rocksdb::ColumnFamilyOptions outbox;
  outbox.write_buffer_size = 16 << 20;
  const std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, small},
      {kOutbox, outbox},
      {kLatest, small},
      {kMeta, small},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s =
      rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return OpenFault(where, s);

  std::unique_ptr<CollectorStore> store(new CollectorStore());
  store->where_ = std::move(where);
  store->db_.reset(raw);
  store->handles_ = std::make_unique<Handles>();
  store->handles_->all = std::move(handles);
  // The outbox is small (forwarded entries are deleted): reading it all
  // at open is cheap. The digest is the record of a store's first start.
  if (absl::Status checked =
          CheckOpenedStore(raw, store->where_, manifest, /*verify_files=*/true,
                           store->LoadDefinitionDigest());
      !checked.ok()) {
    return checked;
  }
  rocksdb::ColumnFamilyHandle* meta = store->handles_->meta();
  absl::StatusOr<uint64_t> last =
      ReadU64(store->db_.get(), meta, kStore, "Open", kMetaLastSeq, 0);
  if (!last.ok()) return last.status();
  absl::StatusOr<uint64_t> acked =
      ReadU64(store->db_.get(), meta, kStore, "Open", kMetaAckedSeq, 0);
  if (!acked.ok()) return acked.status();
  if (*acked > *last) {
    return Corrupted(kStore, operation, "meta",
                     absl::StrCat("acknowledged sequence ", *acked,
                                  " is above the last sequence ", *last));
  }
  store->last_seq_ = *last;
  store->acked_seq_ = *acked;
  return store;
}

CollectorStore::~CollectorStore() {
  if (db_ == nullptr) return;
  if (handles_ != nullptr) {
    for (rocksdb::ColumnFamilyHandle* handle : handles_->all) {
      db_->DestroyColumnFamilyHandle(handle);
    }
  }
  db_->Close().PermitUncheckedError();
  db_.reset();
}

absl::StatusOr<std::optional<std::string>>
CollectorStore::LoadDefinitionDigest() {
  return ReadValue(db_.get(), handles_->meta(), kStore, "LoadDefinitionDigest",
                   kMetaDefinitionDigest);
}

absl::Status CollectorStore::SaveDefinitionDigest(const std::string& digest) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<std::optional<std::string>> stored = LoadDefinitionDigest();
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    if (**stored == digest) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "CollectorStore::SaveDefinitionDigest: the store belongs to the "
        "election with definition digest ",
        **stored, ", not ", digest));
  }
  return WriteFault(
      where_, "SaveDefinitionDigest",
      db_->Put(Synced(), handles_->meta(), kMetaDefinitionDigest, digest));
}

absl::Status CollectorStore::ResumeWrites() {
  std::lock_guard<std::mutex> lock(write_mutex_);
  write_failed_ = true;
  return ResumeIfFailedLocked();
}

absl::Status CollectorStore::ResumeIfFailedLocked() {
  if (!write_failed_) return absl::OkStatus();
  absl::Status resumed =
      storage::ResumeWrites(db_.get(), handles_->meta(), where_);
  if (resumed.ok()) write_failed_ = false;
  return resumed;
}

absl::StatusOr<uint64_t> CollectorStore::Append(
    const std::vector<v1::StationProtocol>& protocols,
    const std::vector<std::pair<ProtocolKey, CollectorLatest>>& latest) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  if (absl::Status resumed = ResumeIfFailedLocked(); !resumed.ok()) {
    return resumed;
  }
  const uint64_t first = last_seq_.load() + 1;
  rocksdb::WriteBatch batch;
  v1::OutboxEntry entry;
  std::string bytes;
  uint64_t seq = first;
  for (const v1::StationProtocol& protocol : protocols) {
    entry.set_seq(seq);
    *entry.mutable_protocol() = protocol;
    bytes.clear();
    if (!entry.SerializeToString(&bytes)) {
      return absl::InvalidArgumentError(
          "CollectorStore::Append: cannot serialize an outbox entry");
    }
    rocksdb::Status s =
        batch.Put(handles_->outbox(), EncodeRevision(seq), bytes);
    if (!s.ok()) return FromRocksDb(kStore, "Append", s);
    ++seq;
  }
  for (const auto& [key, value] : latest) {
    rocksdb::Status s = batch.Put(handles_->latest(), EncodeProtocolKey(key),
                                  EncodeCollectorLatest(value));
    if (!s.ok()) return FromRocksDb(kStore, "Append", s);
  }
  const uint64_t last = seq - 1;
  if (last != last_seq_.load()) {
    rocksdb::Status s =
        batch.Put(handles_->meta(), kMetaLastSeq, EncodeRevision(last));
    if (!s.ok()) return FromRocksDb(kStore, "Append", s);
  }
  if (batch.Count() == 0) return first;
  if (absl::Status s =
          WriteFault(where_, "Append", db_->Write(Synced(), &batch));
      !s.ok()) {
    write_failed_ = true;
    return s;
  }
  last_seq_ = last;
  return first;
}

absl::StatusOr<std::vector<v1::OutboxEntry>> CollectorStore::ReadFrom(
    uint64_t after_seq, size_t max_entries) {
  std::vector<v1::OutboxEntry> out;
  if (max_entries == 0 || after_seq == UINT64_MAX) return out;
  // Deleted (acknowledged) entries lie below the lower bound, so the scan
  // never walks over their tombstones.
  const std::string lower =
      EncodeRevision(std::max(after_seq, acked_seq_.load()) + 1);
  const rocksdb::Slice lower_slice(lower);
  rocksdb::ReadOptions read;
  read.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(read, handles_->outbox()));
  for (it->Seek(lower_slice); it->Valid() && out.size() < max_entries;
       it->Next()) {
    v1::OutboxEntry entry;
    if (!entry.ParseFromArray(it->value().data(),
                              static_cast<int>(it->value().size()))) {
      return Corrupted(kStore, "ReadFrom", "outbox entry",
                       absl::StrCat(it->value().size(), " bytes"));
    }
    absl::StatusOr<uint64_t> seq =
        DecodeRevision(std::string_view(it->key().data(), it->key().size()));
    if (!seq.ok() || *seq != entry.seq()) {
      return Corrupted(kStore, "ReadFrom", "outbox key",
                       "does not match the entry's sequence");
    }
    out.push_back(std::move(entry));
  }
  if (absl::Status s = FromRocksDb(kStore, "ReadFrom", it->status()); !s.ok())
    return s;
  return out;
}

absl::Status CollectorStore::AckUpTo(uint64_t seq) {
  std::lock_guard<std::mutex> lock(write_mutex_);
  const uint64_t acked = acked_seq_.load();
  if (seq <= acked) return absl::OkStatus();
  if (absl::Status resumed = ResumeIfFailedLocked(); !resumed.ok()) {
    return resumed;
  }
  rocksdb::WriteBatch batch;
  const uint64_t last = last_seq_.load();
  const uint64_t delete_to = std::min(seq, last);
  if (delete_to > acked) {
    rocksdb::Status s =
        batch.DeleteRange(handles_->outbox(), EncodeRevision(acked + 1),
                          EncodeRevision(delete_to + 1));
    if (!s.ok()) return FromRocksDb(kStore, "AckUpTo", s);
  }
  rocksdb::Status s =
      batch.Put(handles_->meta(), kMetaAckedSeq, EncodeRevision(seq));
  if (!s.ok()) return FromRocksDb(kStore, "AckUpTo", s);
  if (seq > last) {
    s = batch.Put(handles_->meta(), kMetaLastSeq, EncodeRevision(seq));
    if (!s.ok()) return FromRocksDb(kStore, "AckUpTo", s);
  }
  if (absl::Status status = WriteFault(
          where_, "AckUpTo", db_->Write(rocksdb::WriteOptions(), &batch));
      !status.ok()) {
    write_failed_ = true;
    return status;
  }
  if (seq > last) last_seq_ = seq;
  acked_seq_ = seq;
  return absl::OkStatus();
}

absl::Status CollectorStore::ForEachLatest(
    const std::function<absl::Status(const ProtocolKey&,
                                     const CollectorLatest&)>& fn) {
  rocksdb::ReadOptions read;
  read.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(read, handles_->latest()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    absl::StatusOr<ProtocolKey> key =
        DecodeProtocolKey(std::string_view(it->key().data(), it->key().size()));
    if (!key.ok()) {
      return Corrupted(kStore, "ForEachLatest", "latest key",
                       key.status().message());
    }
    absl::StatusOr<CollectorLatest> value = DecodeCollectorLatest(
        std::string_view(it->value().data(), it->value().size()));
    if (!value.ok()) {
      return Corrupted(kStore, "ForEachLatest", "latest value",
                       value.status().message());
    }
    if (absl::Status s = fn(*key, *value); !s.ok()) return s;
  }
  return FromRocksDb(kStore, "ForEachLatest", it->status());
}

uint64_t CollectorStore::depth() const {
  const uint64_t acked = acked_seq_.load();
  const uint64_t last = last_seq_.load();
  return last > acked ? last - acked : 0;
}

}  // namespace tally::storage
