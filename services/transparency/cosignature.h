// C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature), version 1,
// Ed25519: a witness's statement that, as of a time, the consistent tree
// head with the largest size it has observed for a log is the one in a
// checkpoint. A cosignature is a signed-note signature (note.h) on the
// checkpoint:
//
//   key id     SHA-256(<witness name> || 0x0A || 0x04 || public key)[:4]
//   signature  u64 timestamp (big-endian seconds since the Unix epoch)
//              || 64-byte Ed25519 signature
//   signed     "cosignature/v1\n" "time <timestamp in decimal>\n" followed
//              by the whole checkpoint note text (its final newline
//              included, no signature line)
//
// Pure functions; thread-compatible.
#ifndef TALLY_SERVICES_TRANSPARENCY_COSIGNATURE_H_
#define TALLY_SERVICES_TRANSPARENCY_COSIGNATURE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/transparency/ed25519.h"
#include "services/transparency/note.h"

namespace tally::transparency {

// The signed message for a checkpoint text at a time.
std::string CosignatureMessage(uint64_t timestamp,
                               absl::string_view checkpoint_text);

// The witness `name`'s cosignature of `checkpoint_text` (a valid
// checkpoint, see checkpoint.h) at `timestamp`.
absl::StatusOr<NoteSignature> Cosign(absl::string_view checkpoint_text,
                                     absl::string_view name,
                                     const Ed25519PrivateKey& key,
                                     uint64_t timestamp);

// The timestamp a cosignature carries; InvalidArgument when it is not 72
// bytes.
absl::StatusOr<uint64_t> CosignatureTimestamp(const NoteSignature& signature);

// OK when `signature` is `key`'s cosignature of `checkpoint_text` (the key
// id of the name and key must match too); InvalidArgument or
// PermissionDenied otherwise, saying why.
absl::Status VerifyCosignature(const Ed25519PublicKey& key,
                               absl::string_view checkpoint_text,
                               const NoteSignature& signature);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_COSIGNATURE_H_
