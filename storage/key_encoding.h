// Byte layouts of the aggregator store's keys and of the `latest` value
// (DESIGN.md section 5). Every integer is fixed-width big-endian, so the
// bytewise order RocksDB iterates in is the numeric order of the fields,
// field by field: a prefix of a key (contest, or contest + station) selects
// exactly one contiguous range.
//
//   protocol key  contest u16 | station u32                    6 bytes
//   version key   contest u16 | station u32 | version u32     10 bytes
//   totals key    contest u16 | scope kind u8 | scope id u32    7 bytes
//   revision key  revision u64                                 8 bytes
//   conflict key  contest u16 | station u32 | version u32
//                 | revision u64                              18 bytes
//   latest value  version u32 | digest 32 bytes | flags u8    37 bytes
//                 (flags bit 0: has anomalies; other bits must be 0)
//
// Decoders accept exactly these lengths and return InvalidArgument naming
// what was being decoded otherwise; callers reading from the database turn
// that into DataLoss with the family and operation.
#ifndef TALLY_STORAGE_KEY_ENCODING_H_
#define TALLY_STORAGE_KEY_ENCODING_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "storage/aggregator_store.h"

namespace tally::storage {

inline constexpr size_t kProtocolKeySize = 6;
inline constexpr size_t kVersionKeySize = 10;
inline constexpr size_t kTotalsKeySize = 7;
inline constexpr size_t kRevisionKeySize = 8;
inline constexpr size_t kConflictKeySize = 18;
inline constexpr size_t kLatestValueSize = 37;

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

std::string EncodeConflictKey(const ConflictKey& key);
absl::StatusOr<ConflictKey> DecodeConflictKey(std::string_view bytes);

std::string EncodeLatestValue(const LatestValue& value);
absl::StatusOr<LatestValue> DecodeLatestValue(std::string_view bytes);

// Human-readable forms for error messages and verification reports.
std::string DescribeProtocolKey(const ProtocolKey& key);
std::string DescribeTotalsKey(const TotalsKey& key);

// The smallest string greater than every string that starts with `prefix`
// (an exclusive upper bound for a prefix scan); empty when none exists
// (the prefix is all 0xff bytes), meaning "no upper bound".
std::string PrefixSuccessor(std::string_view prefix);

}  // namespace tally::storage

#endif  // TALLY_STORAGE_KEY_ENCODING_H_
