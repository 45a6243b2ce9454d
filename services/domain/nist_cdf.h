// The results of one revision as a NIST SP 1500-100 version 2 "Election
// Results Common Data Format" JSON ElectionReport (`tallyctl export --format
// nist-cdf`, the gateway's /v1/export/nist-cdf.json). Pure mapping: the
// election definition, the totals of every (contest, scope) and, for the
// station level, each station's counted protocols in, one JSON document
// out. The callers fetch those (GetElection, GetResults with all_scopes, the
// transparency log's leaves up to the revision's tree size); the mapping
// itself, every id it makes up and what goes where (parties, candidates,
// "against all", invalid ballots, the report's status) is documented in
// docs/ARCHITECTURE.md, "Standard export (NIST SP 1500-100)".
//
// Pure functions and a plain value type; any thread.
#ifndef TALLY_SERVICES_DOMAIN_NIST_CDF_H_
#define TALLY_SERVICES_DOMAIN_NIST_CDF_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "tally/v1/aggregator.pb.h"
#include "tally/v1/election.pb.h"
#include "tally/v1/protocol.pb.h"
#include "tally/v1/results.pb.h"

namespace tally::nist {

// How deep the report's geography goes. Each level adds one tier of
// reporting units (and their vote counts) to the one above it.
enum class ExportLevel {
  kNational,  // the country (and each district a district contest is in)
  kRegion,    // + regions
  kDistrict,  // + districts
  kStation,   // + polling stations ("precinct-level")
};

// "national", "region", "district", "station"; anything else is
// InvalidArgument naming the four values.
absl::StatusOr<ExportLevel> ParseExportLevel(absl::string_view text);
absl::string_view ExportLevelName(ExportLevel level);

// The counted protocol of every (contest, station): the highest version of
// each, folded from the transparency log's leaves (every leaf is an
// accepted version; a higher version supersedes a lower one).
class StationProtocols {
 public:
  // `leaf_data`: a tally.v1.LogEntry's serialization. InvalidArgument when
  // it does not parse or carries no protocol.
  absl::Status AddLeaf(absl::string_view leaf_data);
  void Add(const v1::StationProtocol& protocol);
  // Null when the station has no counted protocol of the contest.
  const v1::StationProtocol* Find(absl::string_view contest_id,
                                  uint32_t station_id) const;
  size_t size() const { return latest_.size(); }

 private:
  absl::flat_hash_map<std::pair<std::string, uint32_t>, v1::StationProtocol>
      latest_;
};

struct ExportInput {
  // Required.
  const v1::ElectionDefinition* definition = nullptr;
  // The totals of every (contest, scope) at `revision` (GetResults with
  // all_scopes); scopes below `level` are left out of the report.
  std::vector<v1::Totals> totals;
  uint64_t revision = 0;
  ExportLevel level = ExportLevel::kNational;
  // Required for ExportLevel::kStation: the protocols counted at `revision`.
  const StationProtocols* stations = nullptr;
  // The report's GeneratedDate (printed in UTC, to the second).
  absl::Time generated = absl::UnixEpoch();
  std::string issuer = "tally";
  std::string issuer_abbreviation = "tally";
  // The BCP 47 tag of every name; the definition does not say its
  // language, so "und" (undetermined) unless the caller knows it.
  std::string language = "und";
  bool pretty = true;
};

// The input of a report from GetResults' answer with all_scopes: its
// totals (moved out of `results`) and revision; `definition` and
// `stations` (may be null below the station level) must outlive it.
// `generated` is left to the caller.
ExportInput MakeExportInput(const v1::ElectionDefinition& definition,
                            v1::GetResultsResponse* results, ExportLevel level,
                            const StationProtocols* stations);

// The ElectionReport as JSON. InvalidArgument when the input is incomplete
// (no definition, station level without station protocols).
absl::StatusOr<std::string> NistCdfJson(const ExportInput& input);

// "unofficial-complete" when every contest's totals at its own scope have
// every expected station reported, else "unofficial-partial".
std::string ReportStatus(const v1::ElectionDefinition& definition,
                         const std::vector<v1::Totals>& totals);

}  // namespace tally::nist

#endif  // TALLY_SERVICES_DOMAIN_NIST_CDF_H_
