// Building blocks of tally's canonical byte encodings (the protocol digest,
// the totals digest, the signed tree head): unsigned big-endian integers
// and length-prefixed strings. Every encoding that is hashed or signed is
// written with these, so "u32", "u64" and "str" mean the same thing in
// every format description of the project.
#ifndef TALLY_SERVICES_DOMAIN_CANONICAL_BYTES_H_
#define TALLY_SERVICES_DOMAIN_CANONICAL_BYTES_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"

namespace tally {

// u8.
inline void PutU8(uint8_t value, std::string* out) {
  out->push_back(static_cast<char>(value));
}

// u32: 4 bytes, big-endian.
inline void PutU32(uint32_t value, std::string* out) {
  const char bytes[4] = {
      static_cast<char>(value >> 24), static_cast<char>(value >> 16),
      static_cast<char>(value >> 8), static_cast<char>(value)};
  out->append(bytes, sizeof(bytes));
}

// u64: 8 bytes, big-endian.
inline void PutU64(uint64_t value, std::string* out) {
  PutU32(static_cast<uint32_t>(value >> 32), out);
  PutU32(static_cast<uint32_t>(value), out);
}

// str: u32 length, then the raw bytes. Protobuf strings are below 2 GiB,
// so the length always fits.
inline void PutString(absl::string_view value, std::string* out) {
  PutU32(static_cast<uint32_t>(value.size()), out);
  out->append(value.data(), value.size());
}

// Count lines (a choice id and its count): those with a count above zero,
// sorted by id (bytewise) then count, as u32 number of lines, then str id
// and u64 count each. Zero lines are dropped because a missing line means
// zero, so both forms must encode alike; the sort makes the encoding
// independent of the input order.
using CountLines = std::vector<std::pair<absl::string_view, uint64_t>>;
inline void PutCountLines(CountLines lines, std::string* out) {
  lines.erase(std::remove_if(lines.begin(), lines.end(),
                             [](const auto& line) { return line.second == 0; }),
              lines.end());
  // string_view compares as unsigned bytes (char_traits<char>).
  std::sort(lines.begin(), lines.end());
  PutU32(static_cast<uint32_t>(lines.size()), out);
  for (const auto& [id, count] : lines) {
    PutString(id, out);
    PutU64(count, out);
  }
}

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_CANONICAL_BYTES_H_
