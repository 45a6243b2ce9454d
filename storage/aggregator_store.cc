#include "storage/aggregator_store.h"

#include <google/protobuf/message_lite.h>
#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "services/domain/definition_digest.h"
#include "storage/key_encoding.h"
#include "storage/rocksdb_status.h"
#include "storage/store_info_log.h"

namespace tally::storage {
namespace {

constexpr char kStore[] = "AggregatorStore";

// Column family names; "default" is required by RocksDB and stays empty.
constexpr char kProtocols[] = "protocols";
constexpr char kLatest[] = "latest";
constexpr char kTotals[] = "totals";
constexpr char kEvents[] = "events";
constexpr char kConflicts[] = "conflicts";
constexpr char kMeta[] = "meta";
constexpr char kLogLeaves[] = "log_leaves";
constexpr char kLogNodes[] = "log_nodes";
constexpr char kTreeHeads[] = "tree_heads";
constexpr char kTreeSizes[] = "tree_sizes";
constexpr char kCosignatures[] = "cosignatures";

// Keys of the meta family.
constexpr char kMetaDefinition[] = "definition";
constexpr char kMetaDefinitionDigest[] = "definition_digest";
constexpr char kMetaRevision[] = "revision";
constexpr char kMetaEpoch[] = "epoch";
constexpr char kMetaOldestEvent[] = "oldest_event";
constexpr char kMetaCursorPrefix[] = "cursor/";
constexpr char kMetaDecidedPrefix[] = "decided/";
constexpr char kMetaLogPosition[] = "log_position";
constexpr char kMetaClusterId[] = "cluster_id";
constexpr char kMetaLogSize[] = "log_size";
constexpr char kMetaLogPublicKey[] = "log_public_key";

template <typename Message>
absl::Status ParseValue(absl::string_view operation, absl::string_view what,
                        const rocksdb::Slice& bytes, Message* out) {
  if (!out->ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corrupted(kStore, operation, what,
                     absl::StrCat("cannot parse ", out->GetTypeName(), " (",
                                  bytes.size(), " bytes)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Serialize(absl::string_view operation,
                                      const google::protobuf::MessageLite& m) {
  std::string out;
  if (!m.SerializeToString(&out)) {
    return absl::InvalidArgumentError(
        absl::StrCat("AggregatorStore::", operation, ": cannot serialize ",
                     m.GetTypeName()));
  }
  return out;
}

// Iterates [lower, upper) of one family (upper empty: to the end) and calls
// fn(key, value) until it returns false or an error.
//   fill_cache: false for whole-store scans (start-up, verification) so
//     that they do not evict the blocks live reads keep hot.
//   total_order: true when the scan crosses prefixes of a family that has a
//     prefix extractor; otherwise RocksDB may stop at the prefix boundary.
struct ScanOptions {
  bool fill_cache = true;
  bool total_order = false;
};

absl::Status Scan(
    rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
    absl::string_view operation, const std::string& lower,
    const std::string& upper, ScanOptions scan,
    const std::function<absl::StatusOr<bool>(
        const rocksdb::Slice& key, const rocksdb::Slice& value)>& fn) {
  const rocksdb::Slice lower_slice(lower);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions read;
  read.iterate_lower_bound = &lower_slice;
  if (!upper.empty()) read.iterate_upper_bound = &upper_slice;
  read.fill_cache = scan.fill_cache;
  // Whole-store scans read files front to back: large reads.
  if (!scan.fill_cache) read.readahead_size = 4 << 20;
  read.total_order_seek = scan.total_order;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(read, cf));
  for (it->Seek(lower_slice); it->Valid(); it->Next()) {
    absl::StatusOr<bool> more = fn(it->key(), it->value());
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
  }
  return FromRocksDb(kStore, operation, it->status());
}

// --- Tuning -----------------------------------------------------------------
// The aggregator writes every accepted protocol, every changed total and
// one event per commit, with a synced WAL; reads are start-up scans,
// history and event replays, and point lookups of single versions.

rocksdb::DBOptions MakeDbOptions(const StoreOptions& options) {
  rocksdb::DBOptions db;
  db.create_if_missing = options.create_if_missing;
  // A new store, or one written by an older build without a family, gets
  // the missing families instead of failing to open.
  db.create_missing_column_families = true;
  // Flushes and compactions run beside the committer; two jobs let a flush
  // proceed while a compaction runs without taking over a small machine.
  db.max_background_jobs = 2;
  // Push SST and WAL data to disk in 1 MiB steps so that the per-commit
  // WAL fsync never waits behind a large backlog of dirty pages.
  db.bytes_per_sync = 1 << 20;
  db.wal_bytes_per_sync = 1 << 20;
  // All families share one WAL; a rarely written family (meta) would keep
  // old WAL files alive forever. Capping the WAL forces those flushes and
  // bounds recovery time after a crash.
  db.max_total_wal_size = 256 << 20;
  // After a crash the replayed WAL stays in memtables (its files are kept
  // until the next flush) instead of being flushed before Open returns:
  // serving sooner.
  db.avoid_flush_during_recovery = true;
  db.keep_log_file_num = 5;
  // The MANIFEST records every closed WAL and its synced size, so a
  // missing or truncated one is refused at open instead of being replayed
  // short (a cut in the live WAL is indistinguishable from a crash during
  // its last write, which recovery handles).
  db.track_and_verify_wals_in_manifest = true;
  // A WAL record that fails its checksum is damage, refused at open; only
  // an incomplete last record (a crash during its write, never
  // acknowledged) is dropped. Point-in-time recovery, the default, would
  // silently stop at a damaged record and drop every acknowledged write
  // after it.
  db.wal_recovery_mode =
      rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
  return db;
}

// hint_prefix_bytes: commits write the family's keys in increasing order
// within each prefix of that many bytes (see Commit): the contest (2 bytes)
// of protocols and latest, the level (1 byte) of log_nodes, whose inserts
// otherwise alternate between the levels of the tree; with a hint per
// prefix each memtable insert starts its search at the previous key of its
// prefix instead of at the top of the skip list. Only for families
// without range deletions: RocksDB 7.8 keeps one hint per prefix for both
// the point and the range-deletion skip lists of a memtable, and a hint of
// one used in the other corrupts it.
rocksdb::ColumnFamilyOptions MakeFamilyOptions(
    const std::shared_ptr<rocksdb::Cache>& cache, size_t write_buffer_bytes,
    bool bloom, size_t prefix_bytes, size_t hint_prefix_bytes = 0) {
  rocksdb::ColumnFamilyOptions cf;
  // Levelled compaction: the latest and totals families overwrite the
  // same keys all night; levelled compaction keeps space and read
  // amplification low for such keys, and dynamic level sizes keep the
  // space overhead near 10% whatever the final size.
  cf.compaction_style = rocksdb::kCompactionStyleLevel;
  cf.level_compaction_dynamic_level_bytes = true;
  cf.write_buffer_size = write_buffer_bytes;
  // Room for two immutable memtables while one flushes, so a slow flush
  // delays no commit.
  cf.max_write_buffer_number = 3;
  if (hint_prefix_bytes > 0) {
    cf.memtable_insert_with_hint_prefix_extractor.reset(
        rocksdb::NewFixedPrefixTransform(hint_prefix_bytes));
  }

  rocksdb::BlockBasedTableOptions table;
  if (cache) {
    table.block_cache = cache;
  } else {
    table.no_block_cache = true;
  }
  // Index and filter blocks live in (and are bounded by) the block cache;
  // level-0 ones are pinned because every read probes them.
  table.cache_index_and_filter_blocks = true;
  table.pin_l0_filter_and_index_blocks_in_cache = true;
  if (bloom) {
    // ~1% false positives: a point lookup of an absent key (a station's
    // first version, a missing history) skips files without reading them.
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = true;
    // Filters and indexes in 4 KiB partitions under a small pinned top
    // level: a lookup brings one partition into the cache, not the whole
    // filter of its file (hundreds of KiB at 4 million protocols, more
    // than a shard of the cache holds). With whole filters, the reads of
    // an audit (every stored version, in log order) evicted and re-read a
    // filter for almost every key: 0.46 ms of CPU per leaf.
    table.partition_filters = true;
    table.index_type =
        rocksdb::BlockBasedTableOptions::IndexType::kTwoLevelIndexSearch;
    table.metadata_block_size = 4096;
    table.pin_top_level_index_and_filter = true;
  }
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  if (prefix_bytes > 0) {
    // The bloom filter also holds (contest, station) prefixes, so a
    // history scan of one protocol skips files that lack it.
    cf.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(prefix_bytes));
  }
  return cf;
}

std::vector<rocksdb::ColumnFamilyDescriptor> MakeDescriptors(
    const StoreOptions& options) {
  std::shared_ptr<rocksdb::Cache> cache;
  if (options.block_cache_bytes > 0) {
    cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  }
  constexpr size_t kMiB = 1 << 20;
  // Protocols and events take nearly all written bytes: larger memtables
  // mean fewer, larger level-0 files. The small families get small ones.
  return {
      {rocksdb::kDefaultColumnFamilyName,
       MakeFamilyOptions(cache, 4 * kMiB, false, 0)},
      {kProtocols,
       MakeFamilyOptions(cache, 32 * kMiB, true, kProtocolKeySize, 2)},
      {kLatest, MakeFamilyOptions(cache, 8 * kMiB, true, 0, 2)},
      {kTotals, MakeFamilyOptions(cache, 8 * kMiB, false, 0)},
      {kEvents, MakeFamilyOptions(cache, 32 * kMiB, false, 0)},
      {kConflicts, MakeFamilyOptions(cache, 4 * kMiB, false, 0)},
      {kMeta, MakeFamilyOptions(cache, 4 * kMiB, true, 0)},
      // The log: one small key per leaf and about two nodes per leaf, read
      // by point lookups (proofs) and in order (leaves).
      {kLogLeaves, MakeFamilyOptions(cache, 8 * kMiB, false, 0)},
      {kLogNodes, MakeFamilyOptions(cache, 8 * kMiB, true, 0, 1)},
      {kTreeHeads, MakeFamilyOptions(cache, 4 * kMiB, true, 0)},
      {kTreeSizes, MakeFamilyOptions(cache, 4 * kMiB, true, 0)},
      {kCosignatures, MakeFamilyOptions(cache, 4 * kMiB, false, 0)},
  };
}

std::string DescribeVersion(const ProtocolKey& key, uint32_t version) {
  return absl::StrCat("protocols ", DescribeProtocolKey(key), " version ",
                      version);
}

}  // namespace

// Handles in descriptor order (see MakeDescriptors).
struct AggregatorStore::Handles {
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  rocksdb::ColumnFamilyHandle* protocols() const { return all[1]; }
  rocksdb::ColumnFamilyHandle* latest() const { return all[2]; }
  rocksdb::ColumnFamilyHandle* totals() const { return all[3]; }
  rocksdb::ColumnFamilyHandle* events() const { return all[4]; }
  rocksdb::ColumnFamilyHandle* conflicts() const { return all[5]; }
  rocksdb::ColumnFamilyHandle* meta() const { return all[6]; }
  rocksdb::ColumnFamilyHandle* log_leaves() const { return all[7]; }
  rocksdb::ColumnFamilyHandle* log_nodes() const { return all[8]; }
  rocksdb::ColumnFamilyHandle* tree_heads() const { return all[9]; }
  rocksdb::ColumnFamilyHandle* tree_sizes() const { return all[10]; }
  rocksdb::ColumnFamilyHandle* cosignatures() const { return all[11]; }
};

absl::StatusOr<std::unique_ptr<AggregatorStore>> AggregatorStore::Open(
    const std::string& path, const StoreOptions& options) {
  const std::string operation = absl::StrCat("Open(", path, ")");
  // RocksDB's own message for this case ("While mkdir if missing ... File
  // exists") hides the cause; say it plainly.
  std::error_code ec;
  const std::filesystem::file_type type =
      std::filesystem::status(path, ec).type();
  if (type != std::filesystem::file_type::not_found &&
      type != std::filesystem::file_type::none &&
      type != std::filesystem::file_type::directory) {
    return absl::FailedPreconditionError(absl::StrCat(
        "AggregatorStore::", operation, ": exists and is not a directory"));
  }
  // RocksDB would create the directory before noticing that there is no
  // store in it; a refused open must leave nothing behind.
  if (!options.create_if_missing &&
      type == std::filesystem::file_type::not_found) {
    return absl::NotFoundError(
        absl::StrCat("AggregatorStore::", operation,
                     ": no store there (create_if_missing is false)"));
  }

  StoreLocation where{
      "aggregator", path,
      absl::StrCat("restore ", path,
                   " from a backup, or start on an empty directory and "
                   "have every protocol submitted again")};
  if (absl::Status complete = CheckStoreFilesComplete(where); !complete.ok()) {
    return complete;
  }
  const std::string manifest = ManifestOfTables(where);
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors =
      MakeDescriptors(options);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::DBOptions db_options = MakeDbOptions(options);
  db_options.info_log = OpenStoreInfoLog(path);
  UseManualRecovery(db_options);
  const rocksdb::Status s =
      rocksdb::DB::Open(db_options, path, descriptors, &handles, &raw);
  if (!s.ok()) return OpenFault(where, s);

  std::unique_ptr<AggregatorStore> store(new AggregatorStore());
  store->where_ = std::move(where);
  store->db_.reset(raw);
  store->handles_ = std::make_unique<Handles>();
  store->handles_->all = std::move(handles);
  // The definition digest is the record of a store's first start.
  if (absl::Status checked = CheckOpenedStore(raw, store->where_, manifest,
                                              options.verify_files_at_open,
                                              store->LoadDefinitionDigest());
      !checked.ok()) {
    return checked;
  }

  rocksdb::ColumnFamilyHandle* meta = store->handles_->meta();
  absl::StatusOr<uint64_t> revision =
      ReadU64(raw, meta, kStore, operation, kMetaRevision, 0);
  if (!revision.ok()) return revision.status();
  absl::StatusOr<uint64_t> oldest =
      ReadU64(raw, meta, kStore, operation, kMetaOldestEvent, 1);
  if (!oldest.ok()) return oldest.status();
  absl::StatusOr<uint64_t> log_size =
      ReadU64(raw, meta, kStore, operation, kMetaLogSize, 0);
  if (!log_size.ok()) return log_size.status();
  store->revision_.store(*revision);
  store->oldest_event_.store(*oldest);
  store->log_size_.store(*log_size);
  return store;
}

AggregatorStore::~AggregatorStore() {
  if (db_ == nullptr) return;
  if (handles_ != nullptr) {
    // Memtables to SST files on a clean stop, so that the next start has
    // no WAL to replay (a restart after a crash replays at most
    // max_total_wal_size). Errors here are swallowed: every commit was
    // already synced, so nothing acknowledged depends on the flush.
    rocksdb::FlushOptions flush;
    flush.wait = true;
    db_->Flush(flush, handles_->all).PermitUncheckedError();
    // Handles must go before the DB they belong to.
    for (rocksdb::ColumnFamilyHandle* handle : handles_->all) {
      db_->DestroyColumnFamilyHandle(handle);
    }
  }
  db_->Close().PermitUncheckedError();
  db_.reset();
}

// --- Start-up ----------------------------------------------------------------

absl::StatusOr<std::optional<v1::ElectionDefinition>>
AggregatorStore::LoadDefinition() {
  constexpr char kOp[] = "LoadDefinition";
  absl::StatusOr<std::optional<std::string>> bytes =
      ReadValue(db_.get(), handles_->meta(), kStore, kOp, kMetaDefinition);
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::nullopt;
  v1::ElectionDefinition definition;
  if (absl::Status s = ParseValue(kOp, "meta/definition",
                                  rocksdb::Slice(**bytes), &definition);
      !s.ok()) {
    return s;
  }
  // The digest was taken over exactly these bytes; a mismatch means either
  // value was damaged after SaveDefinition.
  absl::StatusOr<std::optional<std::string>> digest = LoadDefinitionDigest();
  if (!digest.ok()) return digest.status();
  absl::StatusOr<std::string> actual = DefinitionDigestOfBytes(**bytes);
  if (!actual.ok()) return actual.status();
  if (!digest->has_value() || **digest != *actual) {
    return Corrupted(kStore, kOp, "meta/definition",
                     absl::StrCat("digest ", *actual, " does not match stored ",
                                  digest->value_or("(none)")));
  }
  return definition;
}

absl::StatusOr<std::optional<std::string>>
AggregatorStore::LoadDefinitionDigest() {
  return ReadValue(db_.get(), handles_->meta(), kStore, "LoadDefinitionDigest",
                   kMetaDefinitionDigest);
}

absl::Status AggregatorStore::SaveDefinition(
    const v1::ElectionDefinition& definition) {
  constexpr char kOp[] = "SaveDefinition";
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<std::string> bytes = DeterministicDefinitionBytes(definition);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("AggregatorStore::", kOp, ": ", bytes.status().message()));
  }
  absl::StatusOr<std::string> digest = DefinitionDigestOfBytes(*bytes);
  if (!digest.ok()) return digest.status();

  absl::StatusOr<std::optional<std::string>> stored = LoadDefinitionDigest();
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    if (**stored == *digest) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "AggregatorStore::", kOp, ": the store holds definition digest ",
        **stored, ", refusing to replace it with ", *digest));
  }

  rocksdb::WriteBatch batch;
  rocksdb::Status s = batch.Put(handles_->meta(), kMetaDefinition, *bytes);
  if (s.ok()) s = batch.Put(handles_->meta(), kMetaDefinitionDigest, *digest);
  if (!s.ok()) return FromRocksDb(kStore, kOp, s);
  rocksdb::WriteOptions write;
  write.sync = true;
  return WriteFault(where_, kOp, db_->Write(write, &batch));
}

uint64_t AggregatorStore::revision() const { return revision_.load(); }

uint64_t AggregatorStore::oldest_event_revision() const {
  return oldest_event_.load();
}

absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>>
AggregatorStore::LoadCursors() {
  return LoadMetaU64s("LoadCursors", kMetaCursorPrefix);
}

absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>>
AggregatorStore::LoadDecidedRevisions() {
  return LoadMetaU64s("LoadDecidedRevisions", kMetaDecidedPrefix);
}

absl::StatusOr<absl::flat_hash_map<std::string, uint64_t>>
AggregatorStore::LoadMetaU64s(const char* op, const char* prefix) {
  absl::flat_hash_map<std::string, uint64_t> values;
  const std::string lower = prefix;
  absl::Status s = Scan(
      db_.get(), handles_->meta(), op, lower, PrefixSuccessor(lower),
      ScanOptions{.fill_cache = false},
      [&](const rocksdb::Slice& key,
          const rocksdb::Slice& value) -> absl::StatusOr<bool> {
        const std::string name = key.ToString();
        absl::StatusOr<uint64_t> number = DecodeRevision(value.ToStringView());
        if (!number.ok()) {
          return Corrupted(kStore, op, absl::StrCat("meta/", name),
                           number.status().message());
        }
        values[name.substr(lower.size())] = *number;
        return true;
      });
  if (!s.ok()) return s;
  return values;
}

absl::Status AggregatorStore::ForEachTotals(
    const std::function<absl::Status(const TotalsKey&, v1::Totals)>& fn) {
  constexpr char kOp[] = "ForEachTotals";
  return Scan(
      db_.get(), handles_->totals(), kOp, "", "",
      ScanOptions{.fill_cache = false},
      [&](const rocksdb::Slice& key,
          const rocksdb::Slice& value) -> absl::StatusOr<bool> {
        absl::StatusOr<TotalsKey> decoded = DecodeTotalsKey(key.ToStringView());
        if (!decoded.ok()) {
          return Corrupted(kStore, kOp, "totals key",
                           decoded.status().message());
        }
        v1::Totals totals;
        if (absl::Status s = ParseValue(
                kOp, absl::StrCat("totals ", DescribeTotalsKey(*decoded)),
                value, &totals);
            !s.ok()) {
          return s;
        }
        if (absl::Status s = fn(*decoded, std::move(totals)); !s.ok()) {
          return s;
        }
        return true;
      });
}

absl::Status AggregatorStore::ForEachLatest(
    const std::function<absl::Status(const ProtocolKey&, const LatestValue&)>&
        fn) {
  constexpr char kOp[] = "ForEachLatest";
  return Scan(db_.get(), handles_->latest(), kOp, "", "",
              ScanOptions{.fill_cache = false},
              [&](const rocksdb::Slice& key,
                  const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                absl::StatusOr<ProtocolKey> decoded =
                    DecodeProtocolKey(key.ToStringView());
                if (!decoded.ok()) {
                  return Corrupted(kStore, kOp, "latest key",
                                   decoded.status().message());
                }
                absl::StatusOr<LatestValue> latest =
                    DecodeLatestValue(value.ToStringView());
                if (!latest.ok()) {
                  return Corrupted(
                      kStore, kOp,
                      absl::StrCat("latest ", DescribeProtocolKey(*decoded)),
                      latest.status().message());
                }
                if (absl::Status s = fn(*decoded, *latest); !s.ok()) return s;
                return true;
              });
}

absl::Status AggregatorStore::ForEachLatestChunk(
    size_t chunk, const std::function<absl::Status(LatestRecords)>& fn) {
  chunk = std::max<size_t>(chunk, 1);
  LatestRecords records;
  records.reserve(chunk);
  absl::Status status =
      ForEachLatest([&](const ProtocolKey& key, const LatestValue& value) {
        records.emplace_back(key, value);
        if (records.size() < chunk) return absl::OkStatus();
        absl::Status s = fn(std::move(records));
        records = LatestRecords();
        records.reserve(chunk);
        return s;
      });
  if (!status.ok() || records.empty()) return status;
  return fn(std::move(records));
}

absl::StatusOr<uint64_t> AggregatorStore::BumpEpoch() {
  constexpr char kOp[] = "BumpEpoch";
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<uint64_t> epoch =
      ReadU64(db_.get(), handles_->meta(), kStore, kOp, kMetaEpoch, 0);
  if (!epoch.ok()) return epoch.status();
  if (*epoch == std::numeric_limits<uint64_t>::max()) {
    return absl::OutOfRangeError(
        absl::StrCat("AggregatorStore::", kOp, ": epoch is exhausted"));
  }
  const uint64_t next = *epoch + 1;
  rocksdb::WriteOptions write;
  write.sync = true;
  if (absl::Status s = WriteFault(
          where_, kOp,
          db_->Put(write, handles_->meta(), kMetaEpoch, EncodeRevision(next)));
      !s.ok()) {
    return s;
  }
  return next;
}

absl::StatusOr<std::optional<LogPosition>> AggregatorStore::LoadLogPosition() {
  constexpr char kOp[] = "LoadLogPosition";
  absl::StatusOr<std::optional<std::string>> value =
      ReadValue(db_.get(), handles_->meta(), kStore, kOp, kMetaLogPosition);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::nullopt;
  absl::StatusOr<LogPosition> position = DecodeLogPosition(**value);
  if (!position.ok()) {
    return Corrupted(kStore, kOp, "meta/log_position",
                     position.status().message());
  }
  return *position;
}

absl::StatusOr<std::optional<std::string>> AggregatorStore::LoadClusterId() {
  return ReadValue(db_.get(), handles_->meta(), kStore, "LoadClusterId",
                   kMetaClusterId);
}

absl::Status AggregatorStore::SaveClusterId(const std::string& cluster_id) {
  constexpr char kOp[] = "SaveClusterId";
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<std::optional<std::string>> stored = LoadClusterId();
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    if (**stored == cluster_id) return absl::OkStatus();
    return absl::FailedPreconditionError(absl::StrCat(
        "AggregatorStore::", kOp, ": the store belongs to replicated cluster ",
        **stored, ", not ", cluster_id));
  }
  rocksdb::WriteOptions write;
  write.sync = true;
  return WriteFault(
      where_, kOp,
      db_->Put(write, handles_->meta(), kMetaClusterId, cluster_id));
}

absl::StatusOr<std::optional<std::string>> AggregatorStore::LoadLogPublicKey() {
  return ReadValue(db_.get(), handles_->meta(), kStore, "LoadLogPublicKey",
                   kMetaLogPublicKey);
}

absl::Status AggregatorStore::SaveLogPublicKey(const std::string& raw_key) {
  constexpr char kOp[] = "SaveLogPublicKey";
  std::lock_guard<std::mutex> lock(write_mutex_);
  absl::StatusOr<std::optional<std::string>> stored = LoadLogPublicKey();
  if (!stored.ok()) return stored.status();
  if (stored->has_value()) {
    if (**stored == raw_key) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("AggregatorStore::", kOp,
                     ": the store's tree heads are signed with another key"));
  }
  rocksdb::WriteOptions write;
  write.sync = true;
  return WriteFault(
      where_, kOp,
      db_->Put(write, handles_->meta(), kMetaLogPublicKey, raw_key));
}

absl::Status AggregatorStore::SyncWal() {
  return WriteFault(where_, "SyncWal", db_->SyncWAL());
}

absl::Status AggregatorStore::CreateCheckpoint(const std::string& dir) {
  const std::string op = absl::StrCat("CreateCheckpoint(", dir, ")");
  rocksdb::Checkpoint* raw = nullptr;
  if (absl::Status s =
          FromRocksDb(kStore, op, rocksdb::Checkpoint::Create(db_.get(), &raw));
      !s.ok()) {
    return s;
  }
  std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
  // log_size_for_flush 0: memtables are flushed first, so the copy is SST
  // files only and opens without replaying a WAL.
  return WriteFault(where_, op, checkpoint->CreateCheckpoint(dir, 0));
}

// --- Commit
// -------------------------------------------------------------------

namespace {

// Checks the invariants a batch must keep before anything is written.
absl::Status CheckBatch(const CommitBatch& batch, uint64_t current,
                        uint64_t log_size) {
  const uint64_t revision = batch.revision == 0 ? current : batch.revision;
  if (batch.revision != 0 && batch.revision <= current) {
    return absl::InvalidArgumentError(
        absl::StrCat("AggregatorStore::Commit: revision ", batch.revision,
                     " does not advance the stored revision ", current));
  }
  if (batch.event.has_value()) {
    if (batch.revision == 0) {
      return absl::InvalidArgumentError(
          "AggregatorStore::Commit: an event needs a non-zero revision");
    }
    if (batch.event->revision() != batch.revision) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AggregatorStore::Commit: event carries revision ",
          batch.event->revision(), ", batch revision is ", batch.revision));
    }
  }
  for (const CommitBatch::Version& v : batch.protocols) {
    if (v.value.protocol().station_id() != v.key.station) {
      return absl::InvalidArgumentError(
          absl::StrCat("AggregatorStore::Commit: protocol of station ",
                       v.value.protocol().station_id(), " under key ",
                       DescribeProtocolKey(v.key)));
    }
  }
  if (batch.log.has_value()) {
    const CommitBatch::LogAppend& log = *batch.log;
    if (batch.revision == 0 || log.head.head().revision() != batch.revision) {
      return absl::InvalidArgumentError(
          absl::StrCat("AggregatorStore::Commit: the tree head of revision ",
                       log.head.head().revision(), " in a batch of revision ",
                       batch.revision));
    }
    if (log.first_leaf != log_size ||
        log.head.head().tree_size() != log_size + log.leaves.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "AggregatorStore::Commit: ", log.leaves.size(), " leaves from index ",
          log.first_leaf, " with a head of size ", log.head.head().tree_size(),
          " do not extend the stored log of ", log_size, " leaves"));
    }
  }
  // Retained events must stay a contiguous range ending at the revision:
  // compacting past revision + 1 would hide the next event.
  if (batch.compact_events_below.has_value() &&
      *batch.compact_events_below > revision + 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("AggregatorStore::Commit: cannot compact events below ",
                     *batch.compact_events_below, " at revision ", revision));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status AggregatorStore::Commit(const CommitBatch& batch) {
  const std::string op = absl::StrCat("Commit(revision ", batch.revision, ")");
  std::lock_guard<std::mutex> lock(write_mutex_);
  const uint64_t current = revision_.load();
  if (absl::Status s = CheckBatch(batch, current, log_size_.load()); !s.ok()) {
    return s;
  }
  const uint64_t revision = batch.revision == 0 ? current : batch.revision;
  uint64_t oldest = oldest_event_.load();

  rocksdb::WriteBatch wb;
  // WriteBatch::Put fails only for keys or values over 4 GiB; the first
  // failure is kept and reported.
  rocksdb::Status s;
  auto put = [&](rocksdb::ColumnFamilyHandle* cf, const std::string& key,
                 const std::string& value) {
    if (s.ok()) s = wb.Put(cf, key, value);
  };
  auto put_message = [&](rocksdb::ColumnFamilyHandle* cf,
                         const std::string& key,
                         const google::protobuf::MessageLite& m) {
    absl::StatusOr<std::string> bytes = Serialize(op, m);
    if (!bytes.ok()) return bytes.status();
    put(cf, key, *bytes);
    return absl::OkStatus();
  };

  // Keys go into the batch in key order: the memtable's skip list then
  // inserts each next to the previous one of its contest (the insert hint,
  // see MakeFamilyOptions) instead of searching from the top, which was
  // the largest single cost of a commit round.
  std::vector<std::pair<std::string, size_t>> order;
  order.reserve(batch.protocols.size());
  for (size_t i = 0; i < batch.protocols.size(); ++i) {
    const CommitBatch::Version& v = batch.protocols[i];
    order.emplace_back(EncodeVersionKey(v.key, v.value.protocol().version()),
                       i);
  }
  std::sort(order.begin(), order.end());
  for (const auto& [key, i] : order) {
    if (absl::Status st =
            put_message(handles_->protocols(), key, batch.protocols[i].value);
        !st.ok()) {
      return st;
    }
  }
  // A protocol corrected twice in one round appears twice: the last value
  // is the one that counts (stable sort, last of equal keys kept).
  order.clear();
  for (size_t i = 0; i < batch.latest.size(); ++i) {
    order.emplace_back(EncodeProtocolKey(batch.latest[i].first), i);
  }
  std::stable_sort(
      order.begin(), order.end(),
      [](const auto& a, const auto& b) { return a.first < b.first; });
  for (size_t j = 0; j < order.size(); ++j) {
    if (j + 1 < order.size() && order[j + 1].first == order[j].first) continue;
    put(handles_->latest(), order[j].first,
        EncodeLatestValue(batch.latest[order[j].second].second));
  }
  for (const auto& [key, totals] : batch.totals) {
    if (absl::Status st =
            put_message(handles_->totals(), EncodeTotalsKey(key), totals);
        !st.ok()) {
      return st;
    }
  }
  // A conflict refused by a commit that counts nothing is filed under the
  // current revision: the state it was judged against.
  for (const CommitBatch::Version& v : batch.conflicts) {
    const ConflictKey key{v.key, v.value.protocol().version(), revision};
    if (absl::Status st =
            put_message(handles_->conflicts(), EncodeConflictKey(key), v.value);
        !st.ok()) {
      return st;
    }
  }
  if (batch.event.has_value()) {
    if (absl::Status st = put_message(
            handles_->events(), EncodeRevision(batch.revision), *batch.event);
        !st.ok()) {
      return st;
    }
  }
  for (const auto& [collector, sequence] : batch.cursors) {
    put(handles_->meta(), absl::StrCat(kMetaCursorPrefix, collector),
        EncodeRevision(sequence));
  }
  for (const auto& [contest, decided] : batch.decided_revisions) {
    put(handles_->meta(), absl::StrCat(kMetaDecidedPrefix, contest),
        EncodeRevision(decided));
  }
  if (batch.revision != 0) {
    put(handles_->meta(), kMetaRevision, EncodeRevision(batch.revision));
  }
  uint64_t log_size = log_size_.load();
  if (batch.log.has_value()) {
    const CommitBatch::LogAppend& log = *batch.log;
    for (size_t i = 0; i < log.leaves.size(); ++i) {
      put(handles_->log_leaves(), EncodeRevision(log.first_leaf + i),
          EncodeVersionKey(log.leaves[i].protocol, log.leaves[i].version));
    }
    // In the order the leaves completed them: within each level (the
    // family's insert hint) the indexes increase.
    for (const auto& [node, hash] : log.nodes) {
      put(handles_->log_nodes(), EncodeLogNodeKey(node),
          std::string(hash.begin(), hash.end()));
    }
    if (absl::Status st = put_message(handles_->tree_heads(),
                                      EncodeRevision(batch.revision), log.head);
        !st.ok()) {
      return st;
    }
    log_size = log.head.head().tree_size();
    put(handles_->tree_sizes(), EncodeRevision(log_size),
        EncodeRevision(batch.revision));
    put(handles_->meta(), kMetaLogSize, EncodeRevision(log_size));
  }
  if (batch.log_position.has_value()) {
    put(handles_->meta(), kMetaLogPosition,
        EncodeLogPosition(*batch.log_position));
  }
  if (batch.compact_events_below.has_value()) {
    const uint64_t below = *batch.compact_events_below;
    if (s.ok()) {
      s = wb.DeleteRange(handles_->events(), EncodeRevision(0),
                         EncodeRevision(below));
    }
    // Never moves back: an older bound would claim events already gone.
    oldest = std::max(oldest, below);
    put(handles_->meta(), kMetaOldestEvent, EncodeRevision(oldest));
  }
  if (!s.ok()) return FromRocksDb(kStore, op, s);
  if (wb.Count() == 0) return absl::OkStatus();

  rocksdb::WriteOptions write;
  write.sync = batch.sync;
  if (absl::Status st = WriteFault(where_, op, db_->Write(write, &wb));
      !st.ok()) {
    return st;
  }
  // Published only once durable, so readers never see a revision that a
  // crash could take back.
  revision_.store(revision);
  oldest_event_.store(oldest);
  log_size_.store(log_size);
  return absl::OkStatus();
}

absl::Status AggregatorStore::ResumeWrites() {
  std::lock_guard<std::mutex> lock(write_mutex_);
  return storage::ResumeWrites(db_.get(), handles_->meta(), where_);
}

// --- Reads
// --------------------------------------------------------------------

absl::StatusOr<std::optional<v1::ProtocolVersion>> AggregatorStore::GetVersion(
    const ProtocolKey& key, uint32_t version) {
  constexpr char kOp[] = "GetVersion";
  absl::StatusOr<std::optional<std::string>> bytes =
      ReadValue(db_.get(), handles_->protocols(), kStore, kOp,
                EncodeVersionKey(key, version));
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::nullopt;
  v1::ProtocolVersion value;
  if (absl::Status s = ParseValue(kOp, DescribeVersion(key, version),
                                  rocksdb::Slice(**bytes), &value);
      !s.ok()) {
    return s;
  }
  return value;
}

absl::StatusOr<std::vector<v1::ProtocolVersion>> AggregatorStore::History(
    const ProtocolKey& key) {
  constexpr char kOp[] = "History";
  std::vector<v1::ProtocolVersion> versions;
  const std::string prefix = EncodeProtocolKey(key);
  absl::Status s = Scan(
      db_.get(), handles_->protocols(), kOp, prefix, PrefixSuccessor(prefix),
      ScanOptions{},
      [&](const rocksdb::Slice& k,
          const rocksdb::Slice& value) -> absl::StatusOr<bool> {
        absl::StatusOr<VersionKey> decoded = DecodeVersionKey(k.ToStringView());
        if (!decoded.ok()) {
          return Corrupted(kStore, kOp, "protocols key",
                           decoded.status().message());
        }
        v1::ProtocolVersion& v = versions.emplace_back();
        if (absl::Status st = ParseValue(
                kOp, DescribeVersion(decoded->protocol, decoded->version),
                value, &v);
            !st.ok()) {
          return st;
        }
        return true;
      });
  if (!s.ok()) return s;
  return versions;
}

absl::Status AggregatorStore::ForEachProtocolVersion(
    const std::function<absl::Status(const ProtocolKey&, uint32_t version,
                                     const v1::ProtocolVersion&)>& fn) {
  constexpr char kOp[] = "ForEachProtocolVersion";
  return Scan(
      db_.get(), handles_->protocols(), kOp, "", "",
      ScanOptions{.fill_cache = false, .total_order = true},
      [&](const rocksdb::Slice& k,
          const rocksdb::Slice& value) -> absl::StatusOr<bool> {
        absl::StatusOr<VersionKey> decoded = DecodeVersionKey(k.ToStringView());
        if (!decoded.ok()) {
          return Corrupted(kStore, kOp, "protocols key",
                           decoded.status().message());
        }
        v1::ProtocolVersion v;
        if (absl::Status st = ParseValue(
                kOp, DescribeVersion(decoded->protocol, decoded->version),
                value, &v);
            !st.ok()) {
          return st;
        }
        if (absl::Status st = fn(decoded->protocol, decoded->version, v);
            !st.ok()) {
          return st;
        }
        return true;
      });
}

absl::Status AggregatorStore::ForEachConflict(
    const std::function<absl::Status(const ProtocolKey&,
                                     const v1::ProtocolVersion&)>& fn) {
  constexpr char kOp[] = "ForEachConflict";
  return Scan(db_.get(), handles_->conflicts(), kOp, "", "",
              ScanOptions{.fill_cache = false},
              [&](const rocksdb::Slice& k,
                  const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                absl::StatusOr<ConflictKey> decoded =
                    DecodeConflictKey(k.ToStringView());
                if (!decoded.ok()) {
                  return Corrupted(kStore, kOp, "conflicts key",
                                   decoded.status().message());
                }
                v1::ProtocolVersion v;
                if (absl::Status st = ParseValue(
                        kOp,
                        absl::StrCat("conflicts ",
                                     DescribeProtocolKey(decoded->protocol),
                                     " version ", decoded->version,
                                     " revision ", decoded->revision),
                        value, &v);
                    !st.ok()) {
                  return st;
                }
                if (absl::Status st = fn(decoded->protocol, v); !st.ok())
                  return st;
                return true;
              });
}

absl::Status AggregatorStore::ReadEvents(
    uint64_t from, uint64_t to, const std::function<bool(v1::Event)>& fn) {
  constexpr char kOp[] = "ReadEvents";
  if (from > to) return absl::OkStatus();
  // `to` is inclusive; at the top of the range there is no exclusive bound.
  const std::string upper = to == std::numeric_limits<uint64_t>::max()
                                ? std::string()
                                : EncodeRevision(to + 1);
  return Scan(db_.get(), handles_->events(), kOp, EncodeRevision(from), upper,
              ScanOptions{},
              [&](const rocksdb::Slice& k,
                  const rocksdb::Slice& value) -> absl::StatusOr<bool> {
                absl::StatusOr<uint64_t> revision =
                    DecodeRevision(k.ToStringView());
                if (!revision.ok()) {
                  return Corrupted(kStore, kOp, "events key",
                                   revision.status().message());
                }
                v1::Event event;
                if (absl::Status st = ParseValue(
                        kOp, absl::StrCat("events revision ", *revision), value,
                        &event);
                    !st.ok()) {
                  return st;
                }
                return fn(std::move(event));
              });
}

// --- The transparency log
// ----------------------------------------------------------

uint64_t AggregatorStore::log_size() const { return log_size_.load(); }

absl::Status AggregatorStore::ReadLogNodes(
    const std::vector<LogNodeKey>& nodes,
    std::vector<std::array<uint8_t, 32>>* hashes) {
  constexpr char kOp[] = "ReadLogNodes";
  std::vector<std::string> keys;
  keys.reserve(nodes.size());
  for (const LogNodeKey& node : nodes) keys.push_back(EncodeLogNodeKey(node));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> families(nodes.size(),
                                                     handles_->log_nodes());
  std::vector<std::string> values;
  const std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), families, slices, &values);
  hashes->resize(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::string what = absl::StrCat("log_nodes level ", nodes[i].level,
                                          " index ", nodes[i].index);
    if (statuses[i].IsNotFound()) {
      return Corrupted(kStore, kOp, what, "missing");
    }
    if (!statuses[i].ok()) return FromRocksDb(kStore, kOp, statuses[i]);
    if (values[i].size() != 32) {
      return Corrupted(kStore, kOp, what,
                       absl::StrCat(values[i].size(), " bytes, not 32"));
    }
    std::copy(values[i].begin(), values[i].end(), (*hashes)[i].begin());
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<v1::ProtocolVersion>> AggregatorStore::ReadLeaves(
    uint64_t start, uint64_t end) {
  constexpr char kOp[] = "ReadLeaves";
  std::vector<v1::ProtocolVersion> leaves;
  if (start >= end) return leaves;
  std::vector<std::string> keys;
  keys.reserve(end - start);
  uint64_t next = start;
  absl::Status scanned = Scan(
      db_.get(), handles_->log_leaves(), kOp, EncodeRevision(start),
      EncodeRevision(end), ScanOptions{},
      [&](const rocksdb::Slice& k,
          const rocksdb::Slice& value) -> absl::StatusOr<bool> {
        absl::StatusOr<uint64_t> index = DecodeRevision(k.ToStringView());
        if (!index.ok()) {
          return Corrupted(kStore, kOp, "log_leaves key",
                           index.status().message());
        }
        if (*index != next) {
          return Corrupted(kStore, kOp, absl::StrCat("log_leaves leaf ", next),
                           "missing");
        }
        if (!DecodeVersionKey(value.ToStringView()).ok()) {
          return Corrupted(kStore, kOp, absl::StrCat("log_leaves leaf ", next),
                           "not a version key");
        }
        keys.push_back(value.ToString());
        ++next;
        return true;
      });
  if (!scanned.ok()) return scanned;
  if (next != end) {
    return Corrupted(kStore, kOp, absl::StrCat("log_leaves leaf ", next),
                     "missing");
  }
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<rocksdb::ColumnFamilyHandle*> families(keys.size(),
                                                     handles_->protocols());
  std::vector<std::string> values;
  const std::vector<rocksdb::Status> statuses =
      db_->MultiGet(rocksdb::ReadOptions(), families, slices, &values);
  leaves.resize(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    const VersionKey key = *DecodeVersionKey(keys[i]);
    const std::string what =
        absl::StrCat("leaf ", start + i, " (",
                     DescribeVersion(key.protocol, key.version), ")");
    if (statuses[i].IsNotFound()) {
      return Corrupted(kStore, kOp, what, "the protocol version is missing");
    }
    if (!statuses[i].ok()) return FromRocksDb(kStore, kOp, statuses[i]);
    if (absl::Status s =
            ParseValue(kOp, what, rocksdb::Slice(values[i]), &leaves[i]);
        !s.ok()) {
      return s;
    }
    if (!leaves[i].has_leaf_index() || leaves[i].leaf_index() != start + i) {
      return Corrupted(kStore, kOp, what,
                       absl::StrCat("the version names leaf ",
                                    leaves[i].has_leaf_index()
                                        ? absl::StrCat(leaves[i].leaf_index())
                                        : std::string("(none)")));
    }
  }
  return leaves;
}

absl::StatusOr<std::optional<v1::SignedTreeHead>> AggregatorStore::LoadTreeHead(
    uint64_t revision) {
  constexpr char kOp[] = "LoadTreeHead";
  absl::StatusOr<std::optional<std::string>> bytes = ReadValue(
      db_.get(), handles_->tree_heads(), kStore, kOp, EncodeRevision(revision));
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::nullopt;
  v1::SignedTreeHead head;
  if (absl::Status s =
          ParseValue(kOp, absl::StrCat("tree_heads revision ", revision),
                     rocksdb::Slice(**bytes), &head);
      !s.ok()) {
    return s;
  }
  if (head.head().revision() != revision) {
    return Corrupted(
        kStore, kOp, absl::StrCat("tree_heads revision ", revision),
        absl::StrCat("holds the head of revision ", head.head().revision()));
  }
  return head;
}

absl::StatusOr<std::optional<uint64_t>> AggregatorStore::RevisionOfTreeSize(
    uint64_t tree_size) {
  constexpr char kOp[] = "RevisionOfTreeSize";
  absl::StatusOr<std::optional<std::string>> bytes =
      ReadValue(db_.get(), handles_->tree_sizes(), kStore, kOp,
                EncodeRevision(tree_size));
  if (!bytes.ok()) return bytes.status();
  if (!bytes->has_value()) return std::nullopt;
  absl::StatusOr<uint64_t> revision = DecodeRevision(**bytes);
  if (!revision.ok()) {
    return Corrupted(kStore, kOp, absl::StrCat("tree_sizes ", tree_size),
                     revision.status().message());
  }
  return *revision;
}

absl::Status AggregatorStore::SaveCosignature(uint64_t tree_size,
                                              const v1::Cosignature& c) {
  const std::string op = absl::StrCat("SaveCosignature(", tree_size, ")");
  absl::StatusOr<std::string> bytes = Serialize(op, c);
  if (!bytes.ok()) return bytes.status();
  rocksdb::WriteOptions write;
  write.sync = true;
  return WriteFault(
      where_, op,
      db_->Put(write, handles_->cosignatures(),
               EncodeCosignatureKey(tree_size, c.witness_name()), *bytes));
}

absl::StatusOr<std::vector<v1::Cosignature>> AggregatorStore::LoadCosignatures(
    uint64_t tree_size) {
  constexpr char kOp[] = "LoadCosignatures";
  std::vector<v1::Cosignature> out;
  const std::string prefix = EncodeRevision(tree_size);
  absl::Status s =
      Scan(db_.get(), handles_->cosignatures(), kOp, prefix,
           PrefixSuccessor(prefix), ScanOptions{},
           [&](const rocksdb::Slice&,
               const rocksdb::Slice& value) -> absl::StatusOr<bool> {
             if (absl::Status st = ParseValue(
                     kOp, absl::StrCat("cosignatures of size ", tree_size),
                     value, &out.emplace_back());
                 !st.ok()) {
               return st;
             }
             return true;
           });
  if (!s.ok()) return s;
  return out;
}

}  // namespace tally::storage
