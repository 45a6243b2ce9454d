#include "services/security/station_tokens.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "openssl/crypto.h"
#include "openssl/sha.h"
#include "services/security/flag_file.h"

namespace tally::security {
namespace {

std::array<uint8_t, 32> Sha256(absl::string_view text) {
  std::array<uint8_t, 32> digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(),
         digest.data());
  return digest;
}

bool ParseHexDigest(absl::string_view hex, std::array<uint8_t, 32>* out) {
  if (hex.size() != 64) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  const std::string bytes = absl::HexStringToBytes(hex);
  std::copy(bytes.begin(), bytes.end(), out->begin());
  return true;
}

}  // namespace

std::string Sha256Hex(absl::string_view text) {
  const std::array<uint8_t, 32> digest = Sha256(text);
  return absl::BytesToHexString(absl::string_view(
      reinterpret_cast<const char*>(digest.data()), digest.size()));
}

absl::StatusOr<StationTokens> StationTokens::Load(const std::string& path) {
  absl::StatusOr<std::string> text = ReadFlagFile(path, "--station_tokens");
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

absl::StatusOr<StationTokens> StationTokens::Parse(const std::string& text,
                                                   const std::string& origin) {
  StationTokens tokens;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = line.substr(0, line.find('#'));
    std::vector<std::string> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.empty()) continue;
    const std::string where = absl::StrCat(origin, ":", line_number, ": ");
    if (fields.size() != 3) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, "expected \"SHA256_HEX CLIENT_NAME STATIONS\", found ",
          fields.size(), " fields"));
    }
    Entry entry;
    if (!ParseHexDigest(fields[0], &entry.digest)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where,
          "the first field must be a SHA-256 digest (64 hex digits), "
          "never the token itself"));
    }
    for (const Entry& other : tokens.entries_) {
      if (other.digest == entry.digest) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, "the same token digest is listed for client \"",
                         other.client.name, "\""));
      }
    }
    entry.client.name = fields[1];
    if (fields[2] == "*") {
      entry.client.all_stations = true;
    } else {
      for (absl::string_view id : absl::StrSplit(fields[2], ',')) {
        uint32_t station = 0;
        if (!absl::SimpleAtoi(id, &station) || station == 0) {
          return absl::InvalidArgumentError(absl::StrCat(
              where, "station \"", id,
              "\" is not a station id (stations: \"*\" or ids separated by "
              "commas)"));
        }
        entry.client.stations.insert(station);
      }
    }
    tokens.entries_.push_back(std::move(entry));
  }
  if (tokens.entries_.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(origin, ": no station client tokens"));
  }
  return tokens;
}

absl::StatusOr<const StationClient*> StationTokens::Authenticate(
    absl::string_view authorization) const {
  constexpr absl::string_view kBearer = "Bearer ";
  if (authorization.empty()) {
    return absl::UnauthenticatedError(
        "a station client token is required (metadata \"authorization: "
        "Bearer <token>\")");
  }
  if (!absl::StartsWith(authorization, kBearer) ||
      authorization.size() == kBearer.size()) {
    return absl::UnauthenticatedError(
        "the authorization metadata must be \"Bearer <token>\"");
  }
  const std::array<uint8_t, 32> digest =
      Sha256(authorization.substr(kBearer.size()));
  const StationClient* found = nullptr;
  // No early exit: every entry costs the same whether it matches or not.
  for (const Entry& entry : entries_) {
    if (CRYPTO_memcmp(entry.digest.data(), digest.data(), digest.size()) == 0) {
      found = &entry.client;
    }
  }
  if (found == nullptr) {
    return absl::UnauthenticatedError("unknown station client token");
  }
  return found;
}

absl::StatusOr<std::string> ReadToken(const std::string& path,
                                      const char* env) {
  std::string token;
  if (!path.empty()) {
    absl::StatusOr<std::string> text = ReadFlagFile(path, "--token_file");
    if (!text.ok()) return text.status();
    token = std::string(absl::StripAsciiWhitespace(*text));
    if (token.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--token_file ", path, ": empty"));
    }
  } else if (const char* value = std::getenv(env); value != nullptr) {
    token = std::string(absl::StripAsciiWhitespace(value));
  }
  return token;
}

}  // namespace tally::security
