#include "services/transparency/tree_head.h"

#include "absl/strings/str_cat.h"
#include "services/domain/canonical_bytes.h"
#include "services/domain/protocol_digest.h"
#include "services/transparency/note.h"

namespace tally::transparency {
namespace {

constexpr char kTag[] = "tally.v1.TreeHead";  // then one NUL byte

absl::Status AppendHash(const std::string& hash, absl::string_view field,
                        std::string* out) {
  if (hash.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tree head: ", field, " has ", hash.size(), " bytes, not 32"));
  }
  out->append(hash);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> TreeHeadBytes(const v1::TreeHead& head) {
  std::string out;
  out.reserve(kTreeHeadBytes);
  out.append(kTag, sizeof(kTag));  // includes the terminating NUL
  PutU64(head.revision(), &out);
  PutU64(head.tree_size(), &out);
  for (const auto& [hash, field] :
       {std::pair{&head.root_hash(), "root_hash"},
        std::pair{&head.totals_digest(), "totals_digest"},
        std::pair{&head.definition_digest(), "definition_digest"}}) {
    if (absl::Status status = AppendHash(*hash, field, &out); !status.ok()) {
      return status;
    }
  }
  if (head.timestamp().nanos() < 0 || head.timestamp().nanos() > 999999999) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree head: timestamp nanos ", head.timestamp().nanos(),
                     " is out of range"));
  }
  PutU64(static_cast<uint64_t>(head.timestamp().seconds()), &out);
  PutU32(static_cast<uint32_t>(head.timestamp().nanos()), &out);
  return out;
}

absl::StatusOr<v1::SignedTreeHead> SignTreeHead(const v1::TreeHead& head,
                                                const Ed25519PrivateKey& key) {
  absl::StatusOr<std::string> bytes = TreeHeadBytes(head);
  if (!bytes.ok()) return bytes.status();
  absl::StatusOr<std::string> signature = key.Sign(*bytes);
  if (!signature.ok()) return signature.status();
  v1::SignedTreeHead signed_head;
  *signed_head.mutable_head() = head;
  signed_head.set_key_id(key.public_key().KeyId());
  signed_head.set_signature(*std::move(signature));
  return signed_head;
}

absl::Status VerifySignedTreeHead(const v1::SignedTreeHead& signed_head,
                                  const Ed25519PublicKey& key) {
  absl::StatusOr<std::string> bytes = TreeHeadBytes(signed_head.head());
  if (!bytes.ok()) return bytes.status();
  if (signed_head.key_id() != key.KeyId()) {
    return absl::PermissionDeniedError(
        absl::StrCat("tree head of revision ", signed_head.head().revision(),
                     " is signed by key ", HexEncode(signed_head.key_id()),
                     ", not by the log key ", key.Fingerprint()));
  }
  if (!key.Verify(*bytes, signed_head.signature())) {
    return absl::PermissionDeniedError(
        absl::StrCat("tree head of revision ", signed_head.head().revision(),
                     ": the signature does not verify with the log key ",
                     key.Fingerprint()));
  }
  return absl::OkStatus();
}

absl::StatusOr<Checkpoint> CheckpointOf(absl::string_view origin,
                                        const v1::TreeHead& head) {
  absl::StatusOr<Hash> root = HashFromBytes(head.root_hash(), "root_hash");
  if (!root.ok()) return root.status();
  Checkpoint checkpoint;
  checkpoint.origin = std::string(origin);
  checkpoint.size = head.tree_size();
  checkpoint.root = *root;
  return checkpoint;
}

absl::StatusOr<std::string> SignCheckpoint(absl::string_view origin,
                                           const v1::TreeHead& head,
                                           const Ed25519PrivateKey& key) {
  absl::StatusOr<Checkpoint> checkpoint = CheckpointOf(origin, head);
  if (!checkpoint.ok()) return checkpoint.status();
  Note note;
  note.text = FormatCheckpoint(*checkpoint);
  absl::StatusOr<NoteSignature> signature = SignNote(note.text, origin, key);
  if (!signature.ok()) return signature.status();
  note.signatures.push_back(*std::move(signature));
  return FormatNote(note);
}

std::string LogOrigin(absl::string_view election_id) {
  std::string origin = absl::StrCat("tally/", election_id);
  // A key name may not hold a space or '+'; ids are ASCII in practice, so
  // ASCII spaces and control characters are what needs replacing.
  for (char& c : origin) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || c == '+' || u == 0x7f) c = '-';
  }
  if (!IsValidKeyName(origin)) {
    // Invalid UTF-8 or a Unicode space: keep the ASCII only.
    for (char& c : origin) {
      if (static_cast<unsigned char>(c) >= 0x80) c = '-';
    }
  }
  return origin;
}

std::string ShortHash(absl::string_view hash_bytes) {
  return HexEncode(std::string(hash_bytes.substr(0, 8)));
}

}  // namespace tally::transparency
