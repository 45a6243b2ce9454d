#include "storage/key_encoding.h"

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tally::storage {
namespace {

constexpr uint8_t kAnomaliesFlag = 0x01;

// Appends the low `bytes` bytes of `value`, most significant first.
void PutBigEndian(uint64_t value, int bytes, std::string* out) {
  for (int shift = (bytes - 1) * 8; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

// Reads `bytes` bytes at `*pos` as a big-endian integer and advances *pos.
// The caller has checked the total length.
uint64_t GetBigEndian(std::string_view in, size_t* pos, int bytes) {
  uint64_t value = 0;
  for (int i = 0; i < bytes; ++i) {
    value = (value << 8) | static_cast<uint8_t>(in[*pos + i]);
  }
  *pos += bytes;
  return value;
}

absl::Status CheckLength(std::string_view bytes, size_t expected,
                         absl::string_view what) {
  if (bytes.size() == expected) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed ", what, ": ", bytes.size(), " bytes, want ", expected));
}

void PutProtocolKey(const ProtocolKey& key, std::string* out) {
  PutBigEndian(key.contest, 2, out);
  PutBigEndian(key.station, 4, out);
}

ProtocolKey GetProtocolKey(std::string_view in, size_t* pos) {
  ProtocolKey key;
  key.contest = static_cast<uint16_t>(GetBigEndian(in, pos, 2));
  key.station = static_cast<uint32_t>(GetBigEndian(in, pos, 4));
  return key;
}

}  // namespace

std::string EncodeProtocolKey(const ProtocolKey& key) {
  std::string out;
  out.reserve(kProtocolKeySize);
  PutProtocolKey(key, &out);
  return out;
}

absl::StatusOr<ProtocolKey> DecodeProtocolKey(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kProtocolKeySize, "protocol key");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  return GetProtocolKey(bytes, &pos);
}

std::string EncodeVersionKey(const ProtocolKey& key, uint32_t version) {
  std::string out;
  out.reserve(kVersionKeySize);
  PutProtocolKey(key, &out);
  PutBigEndian(version, 4, &out);
  return out;
}

absl::StatusOr<VersionKey> DecodeVersionKey(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kVersionKeySize, "version key");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  VersionKey key;
  key.protocol = GetProtocolKey(bytes, &pos);
  key.version = static_cast<uint32_t>(GetBigEndian(bytes, &pos, 4));
  return key;
}

std::string EncodeTotalsKey(const TotalsKey& key) {
  std::string out;
  out.reserve(kTotalsKeySize);
  PutBigEndian(key.contest, 2, &out);
  PutBigEndian(key.scope_kind, 1, &out);
  PutBigEndian(key.scope_index, 4, &out);
  return out;
}

absl::StatusOr<TotalsKey> DecodeTotalsKey(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kTotalsKeySize, "totals key");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  TotalsKey key;
  key.contest = static_cast<uint16_t>(GetBigEndian(bytes, &pos, 2));
  key.scope_kind = static_cast<uint8_t>(GetBigEndian(bytes, &pos, 1));
  key.scope_index = static_cast<uint32_t>(GetBigEndian(bytes, &pos, 4));
  return key;
}

std::string EncodeRevision(uint64_t revision) {
  std::string out;
  out.reserve(kRevisionKeySize);
  PutBigEndian(revision, 8, &out);
  return out;
}

absl::StatusOr<uint64_t> DecodeRevision(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kRevisionKeySize, "revision");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  return GetBigEndian(bytes, &pos, 8);
}

std::string EncodeLogNodeKey(const LogNodeKey& key) {
  std::string out;
  out.reserve(kLogNodeKeySize);
  PutBigEndian(key.level, 1, &out);
  PutBigEndian(key.index, 8, &out);
  return out;
}

absl::StatusOr<LogNodeKey> DecodeLogNodeKey(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kLogNodeKeySize, "log node key");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  LogNodeKey key;
  key.level = static_cast<uint8_t>(GetBigEndian(bytes, &pos, 1));
  key.index = GetBigEndian(bytes, &pos, 8);
  return key;
}

std::string EncodeCosignatureKey(uint64_t tree_size, std::string_view witness) {
  std::string out;
  out.reserve(kRevisionKeySize + witness.size());
  PutBigEndian(tree_size, 8, &out);
  out.append(witness);
  return out;
}

std::string EncodeLogPosition(const LogPosition& position) {
  std::string out;
  out.reserve(kLogPositionSize);
  PutBigEndian(position.index, 8, &out);
  PutBigEndian(static_cast<uint64_t>(position.etcd_revision), 8, &out);
  return out;
}

absl::StatusOr<LogPosition> DecodeLogPosition(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kLogPositionSize, "log position");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  LogPosition position;
  position.index = GetBigEndian(bytes, &pos, 8);
  const uint64_t revision = GetBigEndian(bytes, &pos, 8);
  if (revision > static_cast<uint64_t>(INT64_MAX)) {
    return absl::InvalidArgumentError(
        "malformed log position: etcd revision out of range");
  }
  position.etcd_revision = static_cast<int64_t>(revision);
  return position;
}

std::string EncodeConflictKey(const ConflictKey& key) {
  std::string out;
  out.reserve(kConflictKeySize);
  PutProtocolKey(key.protocol, &out);
  PutBigEndian(key.version, 4, &out);
  PutBigEndian(key.revision, 8, &out);
  return out;
}

absl::StatusOr<ConflictKey> DecodeConflictKey(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kConflictKeySize, "conflict key");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  ConflictKey key;
  key.protocol = GetProtocolKey(bytes, &pos);
  key.version = static_cast<uint32_t>(GetBigEndian(bytes, &pos, 4));
  key.revision = GetBigEndian(bytes, &pos, 8);
  return key;
}

std::string EncodeLatestValue(const LatestValue& value) {
  std::string out;
  out.reserve(kLatestValueSize);
  PutBigEndian(value.version, 4, &out);
  out.append(reinterpret_cast<const char*>(value.digest.data()),
             value.digest.size());
  out.push_back(static_cast<char>(value.has_anomalies ? kAnomaliesFlag : 0));
  return out;
}

absl::StatusOr<LatestValue> DecodeLatestValue(std::string_view bytes) {
  if (absl::Status s = CheckLength(bytes, kLatestValueSize, "latest value");
      !s.ok()) {
    return s;
  }
  size_t pos = 0;
  LatestValue value;
  value.version = static_cast<uint32_t>(GetBigEndian(bytes, &pos, 4));
  for (uint8_t& b : value.digest) b = static_cast<uint8_t>(bytes[pos++]);
  const uint8_t flags = static_cast<uint8_t>(bytes[pos]);
  // Unknown bits would be written by a newer layout this code cannot
  // interpret; refusing them beats silently dropping a flag.
  if ((flags & ~kAnomaliesFlag) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed latest value: unknown flag bits 0x",
                     absl::Hex(flags & ~kAnomaliesFlag)));
  }
  value.has_anomalies = (flags & kAnomaliesFlag) != 0;
  return value;
}

std::string DescribeProtocolKey(const ProtocolKey& key) {
  return absl::StrCat("(contest ", key.contest, ", station ", key.station, ")");
}

std::string DescribeTotalsKey(const TotalsKey& key) {
  return absl::StrCat("(contest ", key.contest, ", scope kind ", key.scope_kind,
                      ", scope index ", key.scope_index, ")");
}

std::string PrefixSuccessor(std::string_view prefix) {
  std::string out(prefix);
  while (!out.empty()) {
    const uint8_t last = static_cast<uint8_t>(out.back());
    if (last != 0xff) {
      out.back() = static_cast<char>(last + 1);
      return out;
    }
    out.pop_back();
  }
  return out;
}

}  // namespace tally::storage
