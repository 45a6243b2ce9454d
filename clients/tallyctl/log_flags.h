// Flags of the transparency log's commands (tallyctl audit, prove,
// witness).
#ifndef TALLY_CLIENTS_TALLYCTL_LOG_FLAGS_H_
#define TALLY_CLIENTS_TALLYCTL_LOG_FLAGS_H_

#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "services/transparency/ed25519.h"

ABSL_DECLARE_FLAG(std::string, log_public_key);
ABSL_DECLARE_FLAG(std::string, state);

namespace tally::cli {

// The key of --log_public_key; InvalidArgument naming the flag when it is
// missing or not a key.
absl::StatusOr<transparency::Ed25519PublicKey> LogPublicKeyFromFlag();

}  // namespace tally::cli

#endif  // TALLY_CLIENTS_TALLYCTL_LOG_FLAGS_H_
