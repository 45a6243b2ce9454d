#include "services/transparency/cosignature.h"

#include "absl/strings/str_cat.h"
#include "services/transparency/checkpoint.h"

namespace tally::transparency {
namespace {

constexpr size_t kTimestampBytes = 8;

}  // namespace

std::string CosignatureMessage(uint64_t timestamp,
                               absl::string_view checkpoint_text) {
  return absl::StrCat("cosignature/v1\ntime ", timestamp, "\n",
                      checkpoint_text);
}

absl::StatusOr<NoteSignature> Cosign(absl::string_view checkpoint_text,
                                     absl::string_view name,
                                     const Ed25519PrivateKey& key,
                                     uint64_t timestamp) {
  if (absl::StatusOr<Checkpoint> checkpoint = ParseCheckpoint(checkpoint_text);
      !checkpoint.ok()) {
    return checkpoint.status();
  }
  if (!IsValidKeyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", name, "\" is not a valid witness name"));
  }
  absl::StatusOr<std::string> signature =
      key.Sign(CosignatureMessage(timestamp, checkpoint_text));
  if (!signature.ok()) return signature.status();
  NoteSignature out;
  out.name = std::string(name);
  out.key_id = NoteKeyId(name, kNoteTypeCosignatureV1, key.public_key().raw());
  out.signature.reserve(kTimestampBytes + kEd25519SignatureBytes);
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.signature.push_back(static_cast<char>(timestamp >> shift));
  }
  out.signature.append(*signature);
  return out;
}

absl::StatusOr<uint64_t> CosignatureTimestamp(const NoteSignature& signature) {
  if (signature.signature.size() != kTimestampBytes + kEd25519SignatureBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the cosignature of ", signature.name, " has ",
                     signature.signature.size(),
                     " bytes; a timestamped Ed25519 cosignature has 72"));
  }
  uint64_t timestamp = 0;
  for (size_t i = 0; i < kTimestampBytes; ++i) {
    timestamp =
        (timestamp << 8) | static_cast<unsigned char>(signature.signature[i]);
  }
  return timestamp;
}

absl::Status VerifyCosignature(const Ed25519PublicKey& key,
                               absl::string_view checkpoint_text,
                               const NoteSignature& signature) {
  absl::StatusOr<uint64_t> timestamp = CosignatureTimestamp(signature);
  if (!timestamp.ok()) return timestamp.status();
  if (signature.key_id !=
      NoteKeyId(signature.name, kNoteTypeCosignatureV1, key.raw())) {
    return absl::InvalidArgumentError(
        absl::StrCat("the cosignature of ", signature.name,
                     " carries the key id of another key or name"));
  }
  if (!key.Verify(
          CosignatureMessage(*timestamp, checkpoint_text),
          absl::string_view(signature.signature).substr(kTimestampBytes))) {
    return absl::PermissionDeniedError(
        absl::StrCat("the cosignature of ", signature.name, " (time ",
                     *timestamp, ") does not verify over this checkpoint"));
  }
  return absl::OkStatus();
}

}  // namespace tally::transparency
