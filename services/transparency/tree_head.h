// Tree heads: the deterministic encoding a log key signs, signing and
// verification, and the C2SP checkpoint of a head.
//
// The signed encoding of a v1::TreeHead (version 1), 142 bytes, integers
// unsigned big-endian unless said otherwise:
//
//   offset size
//        0   18  "tally.v1.TreeHead" and one 0x00 byte (the tag)
//       18    8  revision
//       26    8  tree_size
//       34   32  root_hash
//       66   32  totals_digest
//       98   32  definition_digest
//      130    8  timestamp.seconds (signed, two's complement)
//      138    4  timestamp.nanos (0 to 999,999,999)
//
// The NUL in the tag makes these bytes invalid as a signed-note text, so a
// log key that signs both tree heads and checkpoints can never have one
// signature taken for the other.
//
// SignedTreeHead: key_id = SHA-256 of the 32-byte public key, signature =
// Ed25519 over the encoding above. Deterministic: the same head and key
// give the same bytes on every replica.
//
// Pure functions; thread-compatible.
#ifndef TALLY_SERVICES_TRANSPARENCY_TREE_HEAD_H_
#define TALLY_SERVICES_TRANSPARENCY_TREE_HEAD_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "services/transparency/checkpoint.h"
#include "services/transparency/ed25519.h"
#include "tally/v1/log.pb.h"

namespace tally::transparency {

inline constexpr size_t kTreeHeadBytes = 142;

// The encoding above; InvalidArgument when a hash is not 32 bytes or the
// nanoseconds are out of range.
absl::StatusOr<std::string> TreeHeadBytes(const v1::TreeHead& head);

absl::StatusOr<v1::SignedTreeHead> SignTreeHead(const v1::TreeHead& head,
                                                const Ed25519PrivateKey& key);

// OK when the head is well formed, its key_id is `key`'s and the signature
// verifies; otherwise InvalidArgument (malformed) or PermissionDenied
// (another key, or a bad signature), saying which.
absl::Status VerifySignedTreeHead(const v1::SignedTreeHead& signed_head,
                                  const Ed25519PublicKey& key);

// The checkpoint naming a head: origin, tree size, root.
absl::StatusOr<Checkpoint> CheckpointOf(absl::string_view origin,
                                        const v1::TreeHead& head);

// The head's checkpoint as a signed note, signed by the log key (key name =
// origin, type Ed25519), with no cosignature.
absl::StatusOr<std::string> SignCheckpoint(absl::string_view origin,
                                           const v1::TreeHead& head,
                                           const Ed25519PrivateKey& key);

// The log's checkpoint origin for an election: "tally/<election id>", with
// any character a note key name may not hold (spaces, '+') replaced by '-'.
std::string LogOrigin(absl::string_view election_id);

// The first 16 hex digits of a root or digest: the short form shown to
// people (64 bits: enough to notice a difference, not to prove one).
std::string ShortHash(absl::string_view hash_bytes);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_TREE_HEAD_H_
