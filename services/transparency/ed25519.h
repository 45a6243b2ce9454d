// Ed25519 keys (RFC 8032) through OpenSSL's EVP interface: generation,
// PEM files (PKCS#8 private keys, SubjectPublicKeyInfo public keys),
// signing and verification, and the key id and fingerprint that name a
// key in tally's signed tree heads.
//
// Ed25519 signatures are deterministic: one key signs one message with one
// signature, so every replica holding the cluster's key publishes the same
// bytes.
//
// Key id: SHA-256 of the 32-byte public key (RFC 8032 encoding), 32 bytes;
// its lowercase hex is the key's fingerprint (logged at start, printed by
// the tools, compared by auditors).
//
// Keys are immutable values; signing and verifying are safe from any number
// of threads at once.
#ifndef TALLY_SERVICES_TRANSPARENCY_ED25519_H_
#define TALLY_SERVICES_TRANSPARENCY_ED25519_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace tally::transparency {

inline constexpr size_t kEd25519KeyBytes = 32;
inline constexpr size_t kEd25519SignatureBytes = 64;

class Ed25519PublicKey {
 public:
  // The 32-byte RFC 8032 encoding; InvalidArgument when it is not a key.
  static absl::StatusOr<Ed25519PublicKey> FromRaw(absl::string_view raw);
  // "-----BEGIN PUBLIC KEY-----" (SubjectPublicKeyInfo) of an Ed25519 key.
  static absl::StatusOr<Ed25519PublicKey> FromPem(absl::string_view pem);

  // 32 bytes.
  const std::string& raw() const { return raw_; }
  std::string ToPem() const;
  // SHA-256 of raw(): 32 bytes.
  std::string KeyId() const;
  // Lowercase hex of KeyId().
  std::string Fingerprint() const;
  // True when `signature` is this key's Ed25519 signature of `message`.
  bool Verify(absl::string_view message, absl::string_view signature) const;

  friend bool operator==(const Ed25519PublicKey& a, const Ed25519PublicKey& b) {
    return a.raw_ == b.raw_;
  }

 private:
  std::string raw_;
  std::shared_ptr<EVP_PKEY> key_;
};

class Ed25519PrivateKey {
 public:
  // A new key from the operating system's random source.
  static absl::StatusOr<Ed25519PrivateKey> Generate();
  // The 32-byte RFC 8032 private key (seed).
  static absl::StatusOr<Ed25519PrivateKey> FromSeed(absl::string_view seed);
  // "-----BEGIN PRIVATE KEY-----" (PKCS#8) of an Ed25519 key.
  static absl::StatusOr<Ed25519PrivateKey> FromPem(absl::string_view pem);

  // 32 bytes. Secret.
  const std::string& seed() const { return seed_; }
  // PKCS#8 PEM. Secret.
  std::string ToPem() const;
  const Ed25519PublicKey& public_key() const { return public_key_; }
  // The 64-byte signature of `message`.
  absl::StatusOr<std::string> Sign(absl::string_view message) const;

 private:
  std::string seed_;
  std::shared_ptr<EVP_PKEY> key_;
  Ed25519PublicKey public_key_;
};

// --- Key files ---------------------------------------------------------------
// Errors name the path. A private key file holds a PKCS#8 PEM key, or a
// signed-note signer key ("PRIVATE+KEY+<name>+<id>+<base64>", the format of
// Go's golang.org/x/mod/sumdb/note tools) of an Ed25519 key.
absl::StatusOr<Ed25519PrivateKey> ReadPrivateKeyFile(const std::string& path);

// Writes `key` as PKCS#8 PEM to a new file readable by its owner only
// (0600), synced, then renamed into place, so a crash never leaves half a
// key. AlreadyExists when `path` exists.
absl::Status WritePrivateKeyFile(const std::string& path,
                                 const Ed25519PrivateKey& key);

// The key in `path`, or a new one written there when the file does not
// exist; *created says which.
absl::StatusOr<Ed25519PrivateKey> LoadOrCreatePrivateKeyFile(
    const std::string& path, bool* created);

// A public key file: a PEM public key, a PEM private key (its public half),
// or a signed-note verifier key ("<name>+<id>+<base64>") of type Ed25519
// (0x01) or Ed25519 cosignature (0x04).
absl::StatusOr<Ed25519PublicKey> ReadPublicKeyFile(const std::string& path);
// The same formats, from text.
absl::StatusOr<Ed25519PublicKey> ParsePublicKeyText(absl::string_view text);

}  // namespace tally::transparency

#endif  // TALLY_SERVICES_TRANSPARENCY_ED25519_H_
