#include "services/transparency/ed25519.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "services/domain/protocol_digest.h"
#include "services/transparency/durable_file.h"
#include "services/transparency/note.h"

namespace tally::transparency {
namespace {

// Key files are small; anything larger is not a key.
constexpr size_t kMaxKeyFileBytes = 64 << 10;

struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct ContextDeleter {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::shared_ptr<EVP_PKEY> Own(EVP_PKEY* key) {
  return std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
}

// The reason of the last OpenSSL failure; empties the thread's error queue
// so that no stale error reaches another user of OpenSSL on this thread
// (gRPC's TLS reads the same queue).
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

bool IsEd25519(const EVP_PKEY* key) {
  return EVP_PKEY_get_id(key) == EVP_PKEY_ED25519;
}

absl::StatusOr<std::string> RawPublic(const EVP_PKEY* key) {
  unsigned char raw[kEd25519KeyBytes];
  size_t length = sizeof(raw);
  if (EVP_PKEY_get_raw_public_key(key, raw, &length) != 1 ||
      length != sizeof(raw)) {
    return absl::InternalError(
        absl::StrCat("reading an Ed25519 public key: ", OpenSslError()));
  }
  return std::string(reinterpret_cast<const char*>(raw), length);
}

absl::StatusOr<std::string> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": cannot read: ", std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read"));
  }
  std::string text = content.str();
  if (text.size() > kMaxKeyFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", text.size(), " bytes is too large for a key"));
  }
  return text;
}

}  // namespace

// --- Public keys -------------------------------------------------------------

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromRaw(
    absl::string_view raw) {
  if (raw.size() != kEd25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 public key has 32 bytes, not ", raw.size()));
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an Ed25519 public key: ", OpenSslError()));
  }
  Ed25519PublicKey out;
  out.raw_ = std::string(raw);
  out.key_ = Own(key);
  return out;
}

absl::StatusOr<Ed25519PublicKey> Ed25519PublicKey::FromPem(
    absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError(OpenSslError());
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a PEM public key: ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Own(key);
  if (!IsEd25519(key)) {
    return absl::InvalidArgumentError("the PEM public key is not Ed25519");
  }
  absl::StatusOr<std::string> raw = RawPublic(key);
  if (!raw.ok()) return raw.status();
  Ed25519PublicKey out;
  out.raw_ = *std::move(raw);
  out.key_ = std::move(owned);
  return out;
}

std::string Ed25519PublicKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || key_ == nullptr ||
      PEM_write_bio_PUBKEY(bio.get(), key_.get()) != 1) {
    ERR_clear_error();
    return std::string();
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

std::string Ed25519PublicKey::KeyId() const { return Sha256(raw_); }

std::string Ed25519PublicKey::Fingerprint() const { return HexEncode(KeyId()); }

bool Ed25519PublicKey::Verify(absl::string_view message,
                              absl::string_view signature) const {
  if (key_ == nullptr || signature.size() != kEd25519SignatureBytes) {
    return false;
  }
  std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(EVP_MD_CTX_new());
  const bool ok =
      context != nullptr &&
      EVP_DigestVerifyInit(context.get(), nullptr, nullptr, nullptr,
                           key_.get()) == 1 &&
      EVP_DigestVerify(context.get(),
                       reinterpret_cast<const unsigned char*>(signature.data()),
                       signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size()) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

// --- Private keys ------------------------------------------------------------

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::Generate() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
  if (key == nullptr) {
    return absl::InternalError(
        absl::StrCat("generating an Ed25519 key: ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Own(key);
  unsigned char seed[kEd25519KeyBytes];
  size_t length = sizeof(seed);
  if (EVP_PKEY_get_raw_private_key(key, seed, &length) != 1 ||
      length != sizeof(seed)) {
    return absl::InternalError(
        absl::StrCat("reading a new Ed25519 key: ", OpenSslError()));
  }
  return FromSeed(
      absl::string_view(reinterpret_cast<const char*>(seed), length));
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromSeed(
    absl::string_view seed) {
  if (seed.size() != kEd25519KeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 private key has 32 bytes, not ", seed.size()));
  }
  EVP_PKEY* key = EVP_PKEY_new_raw_private_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(seed.data()), seed.size());
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an Ed25519 private key: ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Own(key);
  absl::StatusOr<std::string> raw_public = RawPublic(key);
  if (!raw_public.ok()) return raw_public.status();
  absl::StatusOr<Ed25519PublicKey> public_key =
      Ed25519PublicKey::FromRaw(*raw_public);
  if (!public_key.ok()) return public_key.status();
  Ed25519PrivateKey out;
  out.seed_ = std::string(seed);
  out.key_ = std::move(owned);
  out.public_key_ = *std::move(public_key);
  return out;
}

absl::StatusOr<Ed25519PrivateKey> Ed25519PrivateKey::FromPem(
    absl::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (bio == nullptr) return absl::InternalError(OpenSslError());
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a PEM private key: ", OpenSslError()));
  }
  std::shared_ptr<EVP_PKEY> owned = Own(key);
  if (!IsEd25519(key)) {
    return absl::InvalidArgumentError("the PEM private key is not Ed25519");
  }
  unsigned char seed[kEd25519KeyBytes];
  size_t length = sizeof(seed);
  if (EVP_PKEY_get_raw_private_key(key, seed, &length) != 1 ||
      length != sizeof(seed)) {
    return absl::InvalidArgumentError(
        absl::StrCat("reading the PEM private key: ", OpenSslError()));
  }
  return FromSeed(
      absl::string_view(reinterpret_cast<const char*>(seed), length));
}

std::string Ed25519PrivateKey::ToPem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || key_ == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    ERR_clear_error();
    return std::string();
  }
  char* data = nullptr;
  const long length = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(length));
}

absl::StatusOr<std::string> Ed25519PrivateKey::Sign(
    absl::string_view message) const {
  if (key_ == nullptr) {
    return absl::FailedPreconditionError("signing with an empty key");
  }
  std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(EVP_MD_CTX_new());
  unsigned char signature[kEd25519SignatureBytes];
  size_t length = sizeof(signature);
  if (context == nullptr ||
      EVP_DigestSignInit(context.get(), nullptr, nullptr, nullptr,
                         key_.get()) != 1 ||
      EVP_DigestSign(context.get(), signature, &length,
                     reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1 ||
      length != sizeof(signature)) {
    return absl::InternalError(
        absl::StrCat("Ed25519 signing failed: ", OpenSslError()));
  }
  return std::string(reinterpret_cast<const char*>(signature), length);
}

// --- Key files ---------------------------------------------------------------

absl::StatusOr<Ed25519PrivateKey> ReadPrivateKeyFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadKeyFile(path);
  if (!text.ok()) return text.status();
  const absl::string_view trimmed = absl::StripAsciiWhitespace(*text);
  absl::StatusOr<Ed25519PrivateKey> key =
      absl::StartsWith(trimmed, "PRIVATE+KEY+")
      ? [&]() -> absl::StatusOr<Ed25519PrivateKey> {
    absl::StatusOr<NoteSignerKey> signer = ParseSignerKey(trimmed);
    if (!signer.ok()) return signer.status();
    return signer->key;
  }()
      : Ed25519PrivateKey::FromPem(*text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

absl::Status WritePrivateKeyFile(const std::string& path,
                                 const Ed25519PrivateKey& key) {
  const std::string pem = key.ToPem();
  if (pem.empty()) {
    return absl::InternalError(absl::StrCat(path, ": cannot encode the key"));
  }
  return WriteFileDurably(path, pem, 0600, Existing::kKeep);
}

absl::StatusOr<Ed25519PrivateKey> LoadOrCreatePrivateKeyFile(
    const std::string& path, bool* created) {
  *created = false;
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0) return ReadPrivateKeyFile(path);
  absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::Generate();
  if (!key.ok()) return key.status();
  absl::Status status = WritePrivateKeyFile(path, *key);
  // Another process won the race: use its key.
  if (absl::IsAlreadyExists(status)) return ReadPrivateKeyFile(path);
  if (!status.ok()) return status;
  *created = true;
  return key;
}

absl::StatusOr<Ed25519PublicKey> ParsePublicKeyText(absl::string_view text) {
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  if (absl::StrContains(trimmed, "-----BEGIN PUBLIC KEY-----")) {
    return Ed25519PublicKey::FromPem(text);
  }
  if (absl::StrContains(trimmed, "-----BEGIN PRIVATE KEY-----")) {
    absl::StatusOr<Ed25519PrivateKey> key = Ed25519PrivateKey::FromPem(text);
    if (!key.ok()) return key.status();
    return key->public_key();
  }
  if (absl::StartsWith(trimmed, "PRIVATE+KEY+")) {
    absl::StatusOr<NoteSignerKey> signer = ParseSignerKey(trimmed);
    if (!signer.ok()) return signer.status();
    return signer->key.public_key();
  }
  absl::StatusOr<NoteVerifierKey> verifier = ParseVerifierKey(trimmed);
  if (!verifier.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("neither a PEM key nor a signed-note key: ",
                     verifier.status().message()));
  }
  return verifier->key;
}

absl::StatusOr<Ed25519PublicKey> ReadPublicKeyFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadKeyFile(path);
  if (!text.ok()) return text.status();
  absl::StatusOr<Ed25519PublicKey> key = ParsePublicKeyText(*text);
  if (!key.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": ", key.status().message()));
  }
  return key;
}

}  // namespace tally::transparency
