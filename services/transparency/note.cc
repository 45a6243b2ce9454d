#include "services/transparency/note.h"

#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "services/domain/protocol_digest.h"
#include "services/transparency/cosignature.h"

namespace tally::transparency {
namespace {

// U+2014 EM DASH, then a space.
constexpr absl::string_view kSignaturePrefix = "\xE2\x80\x94 ";
constexpr size_t kMaxSignatures = 100;
constexpr absl::string_view kSignerPrefix = "PRIVATE+KEY+";

// Decodes one UTF-8 sequence at text[i]: the code point and its length,
// or -1 for an invalid sequence (overlong forms, surrogates and values
// above U+10FFFF are invalid, as in RFC 3629).
std::pair<int32_t, size_t> DecodeRune(absl::string_view text, size_t i) {
  const auto byte = [&](size_t k) -> int {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : -1;
  };
  const int b0 = byte(0);
  if (b0 < 0x80) return {b0, 1};
  const auto continuation = [&](size_t k, int lo, int hi) {
    const int b = byte(k);
    return b >= lo && b <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    if (!continuation(1, 0x80, 0xBF)) return {-1, 1};
    return {((b0 & 0x1F) << 6) | (byte(1) & 0x3F), 2};
  }
  if (b0 >= 0xE0 && b0 <= 0xEF) {
    const int lo = b0 == 0xE0 ? 0xA0 : 0x80;
    const int hi = b0 == 0xED ? 0x9F : 0xBF;
    if (!continuation(1, lo, hi) || !continuation(2, 0x80, 0xBF)) {
      return {-1, 1};
    }
    return {((b0 & 0x0F) << 12) | ((byte(1) & 0x3F) << 6) | (byte(2) & 0x3F),
            3};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4) {
    const int lo = b0 == 0xF0 ? 0x90 : 0x80;
    const int hi = b0 == 0xF4 ? 0x8F : 0xBF;
    if (!continuation(1, lo, hi) || !continuation(2, 0x80, 0xBF) ||
        !continuation(3, 0x80, 0xBF)) {
      return {-1, 1};
    }
    return {((b0 & 0x07) << 18) | ((byte(1) & 0x3F) << 12) |
                ((byte(2) & 0x3F) << 6) | (byte(3) & 0x3F),
            4};
  }
  return {-1, 1};
}

// Unicode White_Space (what Go's unicode.IsSpace reports).
bool IsUnicodeSpace(int32_t rune) {
  switch (rune) {
    case 0x09:
    case 0x0A:
    case 0x0B:
    case 0x0C:
    case 0x0D:
    case 0x20:
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return rune >= 0x2000 && rune <= 0x200A;
  }
}

// Valid UTF-8 with no ASCII control character other than newline.
absl::Status ValidateNoteBytes(absl::string_view text, absl::string_view what) {
  for (size_t i = 0; i < text.size();) {
    const auto [rune, size] = DecodeRune(text, i);
    if (rune < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not valid UTF-8 at byte ", i));
    }
    if (rune < 0x20 && rune != '\n') {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s holds the control character 0x%02x at byte %d", what, rune, i));
    }
    i += size;
  }
  return absl::OkStatus();
}

std::string KeyIdHex(uint32_t key_id) {
  return absl::StrFormat("%08x", key_id);
}

// "<name>+<8 hex>+<base64(type || key)>": name, id and the decoded key
// material. `what` names the kind of key in errors.
struct KeyString {
  std::string name;
  uint32_t key_id = 0;
  std::string material;  // type byte, then the key
};

absl::StatusOr<KeyString> ParseKeyString(absl::string_view text,
                                         absl::string_view what) {
  std::vector<absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('+', 2));
  if (parts.size() != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not <name>+<key id>+<base64 key>"));
  }
  KeyString key;
  key.name = std::string(parts[0]);
  if (!IsValidKeyName(key.name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": \"", key.name, "\" is not a valid key name"));
  }
  if (parts[1].size() != 8 ||
      !std::all_of(parts[1].begin(), parts[1].end(), absl::ascii_isxdigit) ||
      !absl::SimpleHexAtoi(parts[1], &key.key_id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": key id \"", parts[1], "\" is not 8 hexadecimal digits"));
  }
  absl::StatusOr<std::string> material =
      FromBase64(parts[2], absl::StrCat(what, " key material"));
  if (!material.ok()) return material.status();
  if (material->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " has no key material"));
  }
  key.material = *std::move(material);
  return key;
}

}  // namespace

bool IsValidKeyName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size();) {
    const auto [rune, size] = DecodeRune(name, i);
    if (rune < 0 || rune == '+' || IsUnicodeSpace(rune)) return false;
    i += size;
  }
  return true;
}

uint32_t NoteKeyId(absl::string_view name, uint8_t type,
                   absl::string_view public_key) {
  const char separator[2] = {'\n', static_cast<char>(type)};
  unsigned char digest[32];
  if (!Sha256Parts({name, absl::string_view(separator, 2), public_key},
                   digest)) {
    return 0;
  }
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) |
         (uint32_t{digest[2]} << 8) | uint32_t{digest[3]};
}

std::string Base64(absl::string_view bytes) {
  return absl::Base64Escape(bytes);
}

absl::StatusOr<std::string> FromBase64(absl::string_view text,
                                       absl::string_view what) {
  std::string bytes;
  // Base64Unescape also takes unpadded input; only the one canonical
  // encoding is accepted, so that every value has one text form.
  if (!absl::Base64Unescape(text, &bytes) ||
      absl::Base64Escape(bytes) != text) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not standard padded base64"));
  }
  return bytes;
}

absl::Status ValidateNoteText(absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("a note text must end with a newline");
  }
  return ValidateNoteBytes(text, "note text");
}

std::string FormatSignatureLine(const NoteSignature& signature) {
  std::string bytes;
  bytes.reserve(4 + signature.signature.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    bytes.push_back(static_cast<char>(signature.key_id >> shift));
  }
  bytes.append(signature.signature);
  return absl::StrCat(kSignaturePrefix, signature.name, " ", Base64(bytes),
                      "\n");
}

absl::StatusOr<NoteSignature> ParseSignatureLine(absl::string_view line) {
  if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
  if (!absl::ConsumePrefix(&line, kSignaturePrefix)) {
    return absl::InvalidArgumentError(
        "a signature line must start with an em dash (U+2014) and a space");
  }
  const size_t space = line.find(' ');
  if (space == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "a signature line needs a key name, a space and a base64 signature");
  }
  NoteSignature signature;
  signature.name = std::string(line.substr(0, space));
  if (!IsValidKeyName(signature.name)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signature line: \"", signature.name, "\" is not a valid key name"));
  }
  absl::StatusOr<std::string> bytes =
      FromBase64(line.substr(space + 1),
                 absl::StrCat("the signature of ", signature.name));
  if (!bytes.ok()) return bytes.status();
  if (bytes->size() < 5) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the signature of ", signature.name, " is shorter than 5 bytes"));
  }
  for (int i = 0; i < 4; ++i) {
    signature.key_id =
        (signature.key_id << 8) | static_cast<unsigned char>((*bytes)[i]);
  }
  signature.signature = bytes->substr(4);
  return signature;
}

std::string FormatNote(const Note& note) {
  std::string out = absl::StrCat(note.text, "\n");
  for (const NoteSignature& signature : note.signatures) {
    out.append(FormatSignatureLine(signature));
  }
  return out;
}

absl::StatusOr<Note> ParseNote(absl::string_view message) {
  if (absl::Status status = ValidateNoteBytes(message, "signed note");
      !status.ok()) {
    return status;
  }
  const size_t split = message.rfind("\n\n");
  if (split == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "signed note: no blank line before the signatures");
  }
  Note note;
  note.text = std::string(message.substr(0, split + 1));
  absl::string_view block = message.substr(split + 2);
  if (block.empty() || block.back() != '\n') {
    return absl::InvalidArgumentError(
        "signed note: the signature lines must end with a newline");
  }
  block.remove_suffix(1);
  for (absl::string_view line : absl::StrSplit(block, '\n')) {
    if (note.signatures.size() == kMaxSignatures) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signed note: more than ", kMaxSignatures, " signatures"));
    }
    absl::StatusOr<NoteSignature> signature = ParseSignatureLine(line);
    if (!signature.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("signed note: ", signature.status().message()));
    }
    note.signatures.push_back(*std::move(signature));
  }
  return note;
}

NoteVerifierKey MakeVerifierKey(absl::string_view name, uint8_t type,
                                const Ed25519PublicKey& key) {
  return NoteVerifierKey{std::string(name), type, key};
}

std::string FormatVerifierKey(const NoteVerifierKey& key) {
  std::string material(1, static_cast<char>(key.type));
  material.append(key.key.raw());
  return absl::StrCat(key.name, "+", KeyIdHex(key.key_id()), "+",
                      Base64(material));
}

absl::StatusOr<NoteVerifierKey> ParseVerifierKey(absl::string_view text) {
  absl::StatusOr<KeyString> parsed = ParseKeyString(text, "verifier key");
  if (!parsed.ok()) return parsed.status();
  const uint8_t type = static_cast<uint8_t>(parsed->material[0]);
  if (type != kNoteTypeEd25519 && type != kNoteTypeCosignatureV1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "verifier key %s: signature type 0x%02x is not Ed25519 (0x01) or an "
        "Ed25519 cosignature (0x04)",
        parsed->name, type));
  }
  absl::StatusOr<Ed25519PublicKey> key =
      Ed25519PublicKey::FromRaw(absl::string_view(parsed->material).substr(1));
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key ", parsed->name, ": ", key.status().message()));
  }
  NoteVerifierKey verifier{parsed->name, type, *std::move(key)};
  if (verifier.key_id() != parsed->key_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key ", parsed->name, ": key id ", KeyIdHex(parsed->key_id),
        " does not match the name and key (expected ",
        KeyIdHex(verifier.key_id()), ")"));
  }
  return verifier;
}

std::string FormatSignerKey(const NoteSignerKey& key) {
  std::string material(1, static_cast<char>(key.type));
  material.append(key.key.seed());
  return absl::StrCat(
      kSignerPrefix, key.name, "+",
      KeyIdHex(NoteKeyId(key.name, key.type, key.key.public_key().raw())), "+",
      Base64(material));
}

absl::StatusOr<NoteSignerKey> ParseSignerKey(absl::string_view text) {
  if (!absl::ConsumePrefix(&text, kSignerPrefix)) {
    return absl::InvalidArgumentError(
        "signer key does not start with PRIVATE+KEY+");
  }
  absl::StatusOr<KeyString> parsed = ParseKeyString(text, "signer key");
  if (!parsed.ok()) return parsed.status();
  const uint8_t type = static_cast<uint8_t>(parsed->material[0]);
  if (type != kNoteTypeEd25519 && type != kNoteTypeCosignatureV1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "signer key %s: signature type 0x%02x is not Ed25519 (0x01) or an "
        "Ed25519 cosignature (0x04)",
        parsed->name, type));
  }
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::FromSeed(
      absl::string_view(parsed->material).substr(1));
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signer key ", parsed->name, ": ", key.status().message()));
  }
  const uint32_t expected =
      NoteKeyId(parsed->name, type, key->public_key().raw());
  if (expected != parsed->key_id) {
    return absl::InvalidArgumentError(absl::StrCat(
        "signer key ", parsed->name, ": key id ", KeyIdHex(parsed->key_id),
        " does not match the name and key (expected ", KeyIdHex(expected),
        ")"));
  }
  return NoteSignerKey{parsed->name, type, *std::move(key)};
}

absl::StatusOr<NoteSignature> SignNote(absl::string_view text,
                                       absl::string_view name,
                                       const Ed25519PrivateKey& key) {
  if (absl::Status status = ValidateNoteText(text); !status.ok()) {
    return status;
  }
  if (!IsValidKeyName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", name, "\" is not a valid note key name"));
  }
  absl::StatusOr<std::string> signature = key.Sign(text);
  if (!signature.ok()) return signature.status();
  return NoteSignature{
      std::string(name),
      NoteKeyId(name, kNoteTypeEd25519, key.public_key().raw()),
      *std::move(signature)};
}

bool VerifyNoteSignature(const NoteVerifierKey& key, absl::string_view text,
                         const NoteSignature& signature) {
  if (signature.name != key.name || signature.key_id != key.key_id()) {
    return false;
  }
  switch (key.type) {
    case kNoteTypeEd25519:
      return key.key.Verify(text, signature.signature);
    case kNoteTypeCosignatureV1:
      return VerifyCosignature(key.key, text, signature).ok();
    default:
      return false;
  }
}

absl::StatusOr<OpenedNote> OpenNote(absl::string_view message,
                                    absl::Span<const NoteVerifierKey> known) {
  absl::StatusOr<Note> note = ParseNote(message);
  if (!note.ok()) return note.status();
  OpenedNote opened;
  opened.text = note->text;
  absl::flat_hash_set<std::pair<std::string, uint32_t>> seen;
  absl::flat_hash_set<std::string> seen_unverified;
  for (const NoteSignature& signature : note->signatures) {
    const NoteVerifierKey* key = nullptr;
    for (const NoteVerifierKey& candidate : known) {
      if (candidate.name == signature.name &&
          candidate.key_id() == signature.key_id) {
        key = &candidate;
        break;
      }
    }
    if (key == nullptr) {
      if (seen_unverified.insert(FormatSignatureLine(signature)).second) {
        opened.unverified.push_back(signature);
      }
      continue;
    }
    if (!seen.emplace(signature.name, signature.key_id).second) continue;
    if (!VerifyNoteSignature(*key, note->text, signature)) {
      return absl::PermissionDeniedError(
          absl::StrCat("signed note: the signature of ", signature.name, "+",
                       KeyIdHex(signature.key_id), " does not verify"));
    }
    opened.verified.push_back(signature);
  }
  if (opened.verified.empty()) {
    return absl::FailedPreconditionError(
        "signed note: not signed by any known key");
  }
  return opened;
}

}  // namespace tally::transparency
