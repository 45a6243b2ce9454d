// Canonical encoding of a station protocol (version 1 of the encoding).
//
// The digest is SHA-256 over the following bytes, in this order. All
// integers are unsigned and big-endian; "str" is a 4-byte length followed by
// the raw bytes of the string.
//
//   "tally.v1.StationProtocol\n"        the ASCII tag (25 bytes, no NUL)
//   str  contest_id
//   u32  station_id
//   u32  version
//   u64  accounting.registered_voters
//   u64  accounting.ballots_received
//   u64  accounting.ballots_issued
//   u64  accounting.ballots_found
//   u64  accounting.invalid
//   u64  accounting.against_all
//   u64  accounting.unused_cancelled
//   u32  number of vote lines that follow
//   for each vote line with votes > 0, sorted by choice_id (bytewise, then
//   by votes so that even a malformed protocol with a repeated choice has
//   one encoding):
//     str  choice_id
//     u64  votes
//
// Vote lines with zero votes are dropped before encoding: the proto says a
// missing choice counts as zero votes, so "no line" and "a line with 0" are
// the same content and must have the same digest. A missing accounting
// message encodes as seven zeros. The provenance fields submitted_by,
// signed_at and digest are not part of the content.
#include "services/domain/protocol_digest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "services/domain/canonical_bytes.h"

namespace tally {
namespace {

constexpr char kTag[] = "tally.v1.StationProtocol\n";

}  // namespace

std::string CanonicalProtocolBytes(const v1::StationProtocol& protocol) {
  std::string out;
  // One allocation: the fixed part is 25 + 4 + 8 + 56 + 4 bytes, each vote
  // line 12 bytes plus its choice id.
  size_t size =
      sizeof(kTag) - 1 + 4 + protocol.contest_id().size() + 8 + 7 * 8 + 4;
  for (const v1::ChoiceVotes& line : protocol.votes()) {
    size += 12 + line.choice_id().size();
  }
  out.reserve(size);
  out.append(kTag, sizeof(kTag) - 1);
  PutString(protocol.contest_id(), &out);
  PutU32(protocol.station_id(), &out);
  PutU32(protocol.version(), &out);

  const v1::BallotAccounting& a = protocol.accounting();
  for (uint64_t line : {a.registered_voters(), a.ballots_received(),
                        a.ballots_issued(), a.ballots_found(), a.invalid(),
                        a.against_all(), a.unused_cancelled()}) {
    PutU64(line, &out);
  }

  CountLines lines;
  lines.reserve(protocol.votes_size());
  for (const v1::ChoiceVotes& line : protocol.votes()) {
    lines.emplace_back(line.choice_id(), line.votes());
  }
  PutCountLines(std::move(lines), &out);
  return out;
}

// OpenSSL 3 looks the algorithm up by name on every EVP_Digest call with
// EVP_sha256() (about half the cost of hashing a protocol), so the
// algorithm is fetched once per process and each thread reuses one context.
bool Sha256Parts(absl::Span<const absl::string_view> parts,
                 unsigned char out[32]) {
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct ContextDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(
      EVP_MD_CTX_new());
  if (sha256 == nullptr || context == nullptr ||
      EVP_DigestInit_ex2(context.get(), sha256, nullptr) != 1) {
    return false;
  }
  for (absl::string_view part : parts) {
    if (EVP_DigestUpdate(context.get(), part.data(), part.size()) != 1) {
      return false;
    }
  }
  unsigned int md_len = 0;
  return EVP_DigestFinal_ex(context.get(), out, &md_len) == 1 && md_len == 32;
}

// Returns an empty string in the (out-of-memory only) case that OpenSSL
// fails; an empty digest never matches a supplied one.
std::string Sha256(absl::string_view bytes) {
  unsigned char md[32];
  if (!Sha256Parts({bytes}, md)) return std::string();
  return std::string(reinterpret_cast<const char*>(md), sizeof(md));
}

std::string ProtocolDigest(const v1::StationProtocol& protocol) {
  return Sha256(CanonicalProtocolBytes(protocol));
}

std::string HexEncode(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0f]);
  }
  return out;
}

// Equal canonical bytes is exactly "same digest" without hashing twice.
bool SameContent(const v1::StationProtocol& a, const v1::StationProtocol& b) {
  return CanonicalProtocolBytes(a) == CanonicalProtocolBytes(b);
}

}  // namespace tally
