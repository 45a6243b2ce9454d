// HTTP query parameters turned into upstream requests. Every error is
// InvalidArgument naming the parameter, so the answer (400) tells the
// caller exactly what to fix. Unknown parameters are ignored: browsers and
// caches add their own (cache busters).
#ifndef TALLY_SERVICES_GATEWAY_QUERY_PARAMS_H_
#define TALLY_SERVICES_GATEWAY_QUERY_PARAMS_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "services/domain/nist_cdf.h"
#include "tally/v1/aggregator.pb.h"
#include "tally/v1/feed.pb.h"
#include "tally/v1/log.pb.h"

namespace tally::gateway {

// Decoded query parameters; a name may repeat (httplib::Params).
using QueryParams = std::multimap<std::string, std::string>;

// /v1/election: include_stations=true|false (default false).
absl::StatusOr<v1::GetElectionRequest> ElectionRequestFrom(
    const QueryParams& params);

// /v1/results: contest=<id>, scope=national|region/<id>|district/<id>,
// all_scopes=true|false, revision=<n> (0: the latest); each at most once,
// all optional.
absl::StatusOr<v1::GetResultsRequest> ResultsRequestFrom(
    const QueryParams& params);

// /v1/forensics: contest=<id> (default: the first contest),
// scope=national|region/<id>|district/<id>; each at most once.
absl::StatusOr<v1::GetForensicsRequest> ForensicsRequestFrom(
    const QueryParams& params);

// /v1/watch: contest and scope (each may repeat: any of them),
// from_revision. `last_event_id` is the Last-Event-ID header when present;
// it wins over from_revision (a browser resuming). Neither: 0, a snapshot.
absl::StatusOr<v1::WatchRequest> WatchRequestFrom(
    const QueryParams& params, const std::optional<std::string>& last_event_id);

// /v1/export/nist-cdf.json: level=national|region|district|station
// (default national), at most once.
absl::StatusOr<nist::ExportLevel> ExportLevelFrom(const QueryParams& params);

// /v1/tree-head and /v1/checkpoint: revision=<n> (default 0, the latest).
absl::StatusOr<v1::GetTreeHeadRequest> TreeHeadRequestFrom(
    const QueryParams& params);

// /v1/proof: contest=<id> and station=<id> (both required), version=<n>
// (default: the version counted at the tree size), tree_size=<n> (default:
// the latest head's).
absl::StatusOr<v1::GetInclusionProofRequest> ProofRequestFrom(
    const QueryParams& params);

}  // namespace tally::gateway

#endif  // TALLY_SERVICES_GATEWAY_QUERY_PARAMS_H_
