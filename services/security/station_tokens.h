// Station clients authenticate to their collector with a bearer token
// (call metadata "authorization: Bearer <token>"). The collector keeps
// only the SHA-256 of each token, so its configuration reveals none.
//
// File format (--station_tokens), one client per line, fields separated
// by spaces or tabs; '#' starts a comment:
//
//   # sha256(token), hex     client name   stations
//   9f86d081884c7d65...      desk-1        *
//   60303ae22b998861...      district-12   1201,1202,1203
//
// "*" allows every station of the collector's region (the region itself
// is checked separately); otherwise a comma-separated list of station
// ids. The client name becomes the protocol's submitted_by. A digest is
// made with `printf %s "$TOKEN" | sha256sum`.
#ifndef TALLY_SERVICES_SECURITY_STATION_TOKENS_H_
#define TALLY_SERVICES_SECURITY_STATION_TOKENS_H_

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::security {

struct StationClient {
  std::string name;
  bool all_stations = false;
  absl::flat_hash_set<uint32_t> stations;

  bool MaySubmit(uint32_t station_id) const {
    return all_stations || stations.contains(station_id);
  }
};

class StationTokens {
 public:
  static absl::StatusOr<StationTokens> Load(const std::string& path);
  static absl::StatusOr<StationTokens> Parse(const std::string& text,
                                             const std::string& origin);

  // The client whose token is in `authorization` (the metadata value,
  // "Bearer <token>"); UNAUTHENTICATED when missing or unknown. Every
  // stored digest is compared in constant time, so timing tells nothing
  // about which digest is close.
  absl::StatusOr<const StationClient*> Authenticate(
      absl::string_view authorization) const;

  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    std::array<uint8_t, 32> digest;
    StationClient client;
  };
  std::vector<Entry> entries_;
};

// Lower-case hex SHA-256 of `text`.
std::string Sha256Hex(absl::string_view text);

// A token from a file (surrounding white space removed) or, when `path` is
// empty, from the environment variable `env`; empty when neither is given.
absl::StatusOr<std::string> ReadToken(const std::string& path, const char* env);

}  // namespace tally::security

#endif  // TALLY_SERVICES_SECURITY_STATION_TOKENS_H_
