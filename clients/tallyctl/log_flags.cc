#include "clients/tallyctl/log_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, log_public_key, "",
          "audit, prove, witness: the log's public key: a PEM file, or a "
          "file holding its signed-note verifier key (GetPublicKeys prints "
          "both); required by audit and witness");
ABSL_FLAG(std::string, state, "",
          "audit, witness: file keeping what was checked, so that the next "
          "run continues from it");

namespace tally::cli {

absl::StatusOr<transparency::Ed25519PublicKey> LogPublicKeyFromFlag() {
  const std::string path = absl::GetFlag(FLAGS_log_public_key);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        "--log_public_key is required: the log's public key, obtained from "
        "the election authority (not from the server being checked)");
  }
  absl::StatusOr<transparency::Ed25519PublicKey> key =
      transparency::ReadPublicKeyFile(path);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_public_key ", key.status().message()));
  }
  return key;
}

}  // namespace tally::cli
