// Content digest of a protocol: SHA-256 over a canonical encoding that does
// not depend on protobuf serialization details or on the order of vote lines,
// so that anyone can recompute it from the published protocol.
#ifndef TALLY_SERVICES_DOMAIN_PROTOCOL_DIGEST_H_
#define TALLY_SERVICES_DOMAIN_PROTOCOL_DIGEST_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "tally/v1/protocol.pb.h"

namespace tally {

// The canonical byte string that is hashed (documented in the .cc).
std::string CanonicalProtocolBytes(const v1::StationProtocol& protocol);

// SHA-256 of any byte string: 32 raw bytes.
std::string Sha256(absl::string_view bytes);

// SHA-256 of the concatenation of `parts`, written to `out` (32 bytes)
// without copying the parts together. False only when OpenSSL fails (out of
// memory); `out` is then unspecified.
bool Sha256Parts(absl::Span<const absl::string_view> parts,
                 unsigned char out[32]);

// 32 raw bytes.
std::string ProtocolDigest(const v1::StationProtocol& protocol);

// Lowercase hex of any byte string.
std::string HexEncode(const std::string& bytes);

// Whether two protocols have the same content (same digest); provenance
// fields (submitted_by, signed_at, digest) are ignored.
bool SameContent(const v1::StationProtocol& a, const v1::StationProtocol& b);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_PROTOCOL_DIGEST_H_
