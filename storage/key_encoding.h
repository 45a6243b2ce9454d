// Byte layouts of the aggregator store's keys and of the `latest` value
// (the families are listed in aggregator_store.h), and the keys' decoded
// forms, which the collector store shares. Every integer is fixed-width
// big-endian, so the bytewise order RocksDB iterates in is the numeric order of
// the fields, field by field: a prefix of a key (contest, or contest + station)
// selects exactly one contiguous range.
//
//   protocol key  contest u16 | station u32                    6 bytes
//   version key   contest u16 | station u32 | version u32     10 bytes
//   totals key    contest u16 | scope kind u8 | scope id u32    7 bytes
//   revision key  revision u64                                 8 bytes
//   conflict key  contest u16 | station u32 | version u32
//                 | revision u64                              18 bytes
//   latest value  version u32 | digest 32 bytes | flags u8    37 bytes
//                 (flags bit 0: has anomalies; other bits must be 0)
//   log position  index u64 | etcd revision u64              16 bytes
//                 (meta value of a replica: its last applied log round)
//   log node key  level u8 | index u64                          9 bytes
//                 (a complete subtree of the transparency log)
//   leaf key      leaf index u64 (the revision key's layout)    8 bytes
//   cosignature   tree size u64 | witness name (raw bytes)   8+ bytes
//
// Decoders accept exactly these lengths and return InvalidArgument naming
// what was being decoded otherwise; callers reading from the database turn
// that into DataLoss with the family and operation.
#ifndef TALLY_STORAGE_KEY_ENCODING_H_
#define TALLY_STORAGE_KEY_ENCODING_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"

namespace tally::storage {

inline constexpr size_t kProtocolKeySize = 6;
inline constexpr size_t kVersionKeySize = 10;
inline constexpr size_t kTotalsKeySize = 7;
inline constexpr size_t kRevisionKeySize = 8;
inline constexpr size_t kConflictKeySize = 18;
inline constexpr size_t kLatestValueSize = 37;
inline constexpr size_t kLogPositionSize = 16;
inline constexpr size_t kLogNodeKeySize = 9;

// (contest index, station id): the identity of a protocol.
struct ProtocolKey {
  uint16_t contest = 0;  // position of the contest in the definition
  uint32_t station = 0;
  friend bool operator==(const ProtocolKey&, const ProtocolKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ProtocolKey& k) {
    return H::combine(std::move(h), k.contest, k.station);
  }
};

// (contest index, scope kind, scope index): one totals record. Scope index
// is 0 for national, the region's position for a region, the district's
// position for a district (positions in the definition).
struct TotalsKey {
  uint16_t contest = 0;
  uint8_t scope_kind = 0;  // v1::ScopeKind value
  uint32_t scope_index = 0;
  friend bool operator==(const TotalsKey&, const TotalsKey&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const TotalsKey& k) {
    return H::combine(std::move(h), k.contest, k.scope_kind, k.scope_index);
  }
};

// What the `latest` family remembers of the counted version: enough to
// classify the next arrival (duplicate, stale, conflict, correction)
// without reading the protocol.
struct LatestValue {
  uint32_t version = 0;
  std::array<uint8_t, 32> digest{};  // SHA-256 of the content
  bool has_anomalies = false;
};

// Where a replica stands in the replicated commit log (see
// services/replication): the last round applied and the etcd revision it
// was written at. Stored with the round's data in one WriteBatch, so a
// restart resumes exactly after the last round the store holds.
struct LogPosition {
  uint64_t index = 0;
  int64_t etcd_revision = 0;
  friend bool operator==(const LogPosition&, const LogPosition&) = default;
};

// A key of the `protocols` family.
struct VersionKey {
  ProtocolKey protocol;
  uint32_t version = 0;
  friend bool operator==(const VersionKey&, const VersionKey&) = default;
};

// A key of the `conflicts` family: the refused version and the revision of
// the commit that recorded it (so repeated conflicts do not overwrite).
struct ConflictKey {
  ProtocolKey protocol;
  uint32_t version = 0;
  uint64_t revision = 0;
  friend bool operator==(const ConflictKey&, const ConflictKey&) = default;
};

std::string EncodeProtocolKey(const ProtocolKey& key);
absl::StatusOr<ProtocolKey> DecodeProtocolKey(std::string_view bytes);

std::string EncodeVersionKey(const ProtocolKey& key, uint32_t version);
absl::StatusOr<VersionKey> DecodeVersionKey(std::string_view bytes);

std::string EncodeTotalsKey(const TotalsKey& key);
absl::StatusOr<TotalsKey> DecodeTotalsKey(std::string_view bytes);

// Event keys and u64 meta values (revision, epoch, cursors) share this.
std::string EncodeRevision(uint64_t revision);
absl::StatusOr<uint64_t> DecodeRevision(std::string_view bytes);

// A complete subtree of the transparency log: the 2^level leaves from
// index * 2^level (services/transparency/merkle.h, NodeId).
struct LogNodeKey {
  uint8_t level = 0;
  uint64_t index = 0;
  friend bool operator==(const LogNodeKey&, const LogNodeKey&) = default;
};

std::string EncodeLogNodeKey(const LogNodeKey& key);
absl::StatusOr<LogNodeKey> DecodeLogNodeKey(std::string_view bytes);

// A witness's cosignature of the checkpoint of one tree size.
std::string EncodeCosignatureKey(uint64_t tree_size, std::string_view witness);

std::string EncodeConflictKey(const ConflictKey& key);
absl::StatusOr<ConflictKey> DecodeConflictKey(std::string_view bytes);

std::string EncodeLatestValue(const LatestValue& value);
absl::StatusOr<LatestValue> DecodeLatestValue(std::string_view bytes);

std::string EncodeLogPosition(const LogPosition& position);
absl::StatusOr<LogPosition> DecodeLogPosition(std::string_view bytes);

// Human-readable forms for error messages and verification reports.
std::string DescribeProtocolKey(const ProtocolKey& key);
std::string DescribeTotalsKey(const TotalsKey& key);

// The smallest string greater than every string that starts with `prefix`
// (an exclusive upper bound for a prefix scan); empty when none exists
// (the prefix is all 0xff bytes), meaning "no upper bound".
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace tally::storage

#endif  // TALLY_STORAGE_KEY_ENCODING_H_
