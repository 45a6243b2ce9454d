// C2SP signed-note (https://c2sp.org/signed-note), byte for byte: a UTF-8
// text ending in a newline, a blank line, then one or more signature lines
//
//   — <key name> <base64(4-byte big-endian key id || signature)>\n
//
// (U+2014 em dash, space, name, space, standard padded base64). Key names
// are non-empty, without Unicode spaces or '+'. A key id is the first four
// bytes of SHA-256(key name || 0x0A || signature type || public key).
// Signature types used here: 0x01 Ed25519 over the note text, and 0x04
// timestamped Ed25519 witness cosignatures (c2sp.org/tlog-cosignature,
// cosignature.h).
//
// Key strings, as Go's golang.org/x/mod/sumdb/note writes them:
//   verifier  "<name>+<key id, 8 lowercase hex>+<base64(type || public key)>"
//   signer    "PRIVATE+KEY+<name>+<key id>+<base64(type || private key)>"
//
// Opening a note follows the specification: signatures by unknown keys are
// kept aside unverified; a signature by a known key must verify (else the
// note is refused); at least one known key must have signed. At most 100
// signature lines are read.
//
// Pure functions and values; thread-compatible.
#ifndef TALLY_SERVICES_TRANSPARENCY_NOTE_H_
#define TALLY_SERVICES_TRANSPARENCY_NOTE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "services/transparency/ed25519.h"

namespace tally::transparency {

// Signature type identifier bytes (signed-note, "Signature types").
inline constexpr uint8_t kNoteTypeEd25519 = 0x01;
inline constexpr uint8_t kNoteTypeCosignatureV1 = 0x04;

// Non-empty, valid UTF-8, no Unicode space and no '+'.
bool IsValidKeyName(absl::string_view name);

// SHA-256(name || 0x0A || type || public_key)[:4], big-endian.
uint32_t NoteKeyId(absl::string_view name, uint8_t type,
                   absl::string_view public_key);

// Standard base64 with padding (RFC 4648 section 4), and its strict
// inverse: anything but the canonical encoding is InvalidArgument naming
// `what`.
std::string Base64(absl::string_view bytes);
absl::StatusOr<std::string> FromBase64(absl::string_view text,
                                       absl::string_view what);

// OK when `text` may be a note text: non-empty, valid UTF-8, ends in a
// newline, no ASCII control character but newline.
absl::Status ValidateNoteText(absl::string_view text);

// One signature line.
struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  // The bytes after the key id (64 for Ed25519, 72 for a cosignature).
  std::string signature;
  friend bool operator==(const NoteSignature&, const NoteSignature&) = default;
};

// "— <name> <base64>\n".
std::string FormatSignatureLine(const NoteSignature& signature);
// One line, with or without its final newline.
absl::StatusOr<NoteSignature> ParseSignatureLine(absl::string_view line);

struct Note {
  // Includes the final newline, not the blank separator line.
  std::string text;
  std::vector<NoteSignature> signatures;
};

// Text, blank line, signature lines.
std::string FormatNote(const Note& note);
// Splits a signed note at its last blank line and parses every signature
// line (nothing is verified). InvalidArgument saying what is malformed.
absl::StatusOr<Note> ParseNote(absl::string_view message);

// A public key as a note verifier: its name, signature type and key.
struct NoteVerifierKey {
  std::string name;
  uint8_t type = kNoteTypeEd25519;
  Ed25519PublicKey key;
  uint32_t key_id() const { return NoteKeyId(name, type, key.raw()); }
};
NoteVerifierKey MakeVerifierKey(absl::string_view name, uint8_t type,
                                const Ed25519PublicKey& key);
std::string FormatVerifierKey(const NoteVerifierKey& key);
// InvalidArgument when malformed, of another type than 0x01 or 0x04, or
// when the key id does not match name, type and key.
absl::StatusOr<NoteVerifierKey> ParseVerifierKey(absl::string_view text);

// A private key as a note signer.
struct NoteSignerKey {
  std::string name;
  uint8_t type = kNoteTypeEd25519;
  Ed25519PrivateKey key;
};
std::string FormatSignerKey(const NoteSignerKey& key);
absl::StatusOr<NoteSignerKey> ParseSignerKey(absl::string_view text);

// An Ed25519 (type 0x01) signature of `text` (a valid note text) by `key`
// under `name`.
absl::StatusOr<NoteSignature> SignNote(absl::string_view text,
                                       absl::string_view name,
                                       const Ed25519PrivateKey& key);

// Whether `signature` is `key`'s valid signature of `text`, by the key's
// type (name and key id must match too).
bool VerifyNoteSignature(const NoteVerifierKey& key, absl::string_view text,
                         const NoteSignature& signature);

struct OpenedNote {
  std::string text;
  // Signatures by known keys, each verified (one per key).
  std::vector<NoteSignature> verified;
  // Signatures by keys not in the known list (one per distinct line).
  std::vector<NoteSignature> unverified;
};

// Parses and verifies a signed note against the known keys (see the top of
// this file). InvalidArgument for a malformed note, PermissionDenied for a
// known key's signature that does not verify (naming the key), and
// FailedPrecondition when no known key signed.
absl::StatusOr<OpenedNote> OpenNote(absl::string_view message,
                                    absl::Span<const NoteVerifierKey> known);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_NOTE_H_
