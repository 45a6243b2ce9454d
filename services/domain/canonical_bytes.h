// Building blocks of tally's canonical byte encodings (the protocol digest,
// the totals digest, the signed tree head): unsigned big-endian integers
// and length-prefixed strings. Every encoding that is hashed or signed is
// written with these, so "u32", "u64" and "str" mean the same thing in
// every format description of the project.
#ifndef TALLY_SERVICES_DOMAIN_CANONICAL_BYTES_H_
#define TALLY_SERVICES_DOMAIN_CANONICAL_BYTES_H_

#include <cstdint>
#include <string>

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

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_CANONICAL_BYTES_H_
