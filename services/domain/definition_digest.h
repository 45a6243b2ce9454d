// The digest that names an election definition: SHA-256 (lowercase hex) of
// the definition's deterministic protobuf encoding. The aggregator stores it
// with the definition and publishes it in GetElection; a collector binds its
// outbox to it, so that neither ever serves one election's data under
// another's definition. Pure functions; any thread.
#ifndef TALLY_SERVICES_DOMAIN_DEFINITION_DIGEST_H_
#define TALLY_SERVICES_DOMAIN_DEFINITION_DIGEST_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "tally/v1/election.pb.h"

namespace tally {

// The bytes that are hashed. Protobuf's default encoding may order map
// entries arbitrarily; the deterministic one is reproducible.
absl::StatusOr<std::string> DeterministicDefinitionBytes(
    const v1::ElectionDefinition& definition);

// The digest of bytes made by DeterministicDefinitionBytes (a store checks
// the bytes it holds against the digest it holds).
absl::StatusOr<std::string> DefinitionDigestOfBytes(absl::string_view bytes);

absl::StatusOr<std::string> DefinitionDigest(
    const v1::ElectionDefinition& definition);

}  // namespace tally

#endif  // TALLY_SERVICES_DOMAIN_DEFINITION_DIGEST_H_
