#include "services/gateway/query_params.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "services/common/echo.h"
#include "services/domain/scope_text.h"

namespace tally::gateway {
namespace {

// Every non-empty value of `name` (an empty value means "not given", as
// forms send it).
std::vector<std::string> Values(const QueryParams& params,
                                const std::string& name) {
  std::vector<std::string> values;
  auto [begin, end] = params.equal_range(name);
  for (auto it = begin; it != end; ++it) {
    if (!it->second.empty()) values.push_back(it->second);
  }
  return values;
}

absl::StatusOr<std::optional<std::string>> Single(const QueryParams& params,
                                                  const std::string& name) {
  std::vector<std::string> values = Values(params, name);
  if (values.empty()) return std::optional<std::string>();
  if (values.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter ", name,
                                                   " is given ", values.size(),
                                                   " times; give it once"));
  }
  return std::optional<std::string>(values.front());
}

absl::StatusOr<bool> Flag(const QueryParams& params, const std::string& name) {
  absl::StatusOr<std::optional<std::string>> value = Single(params, name);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return false;
  const std::string text = absl::AsciiStrToLower(**value);
  if (text == "true" || text == "1") return true;
  if (text == "false" || text == "0") return false;
  return absl::InvalidArgumentError(absl::StrCat("query parameter ", name,
                                                 " must be true or false, not ",
                                                 common::QuoteEcho(**value)));
}

absl::StatusOr<v1::Scope> ScopeParam(const std::string& text) {
  absl::StatusOr<v1::Scope> scope = ParseScope(text);
  if (!scope.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter scope: ", scope.status().message()));
  }
  return scope;
}

// A non-negative integer parameter no larger than `max`; nullopt when not
// given.
absl::StatusOr<std::optional<uint64_t>> Number(const QueryParams& params,
                                               const std::string& name,
                                               const std::string& kind,
                                               uint64_t max) {
  absl::StatusOr<std::optional<std::string>> text = Single(params, name);
  if (!text.ok()) return text.status();
  if (!text->has_value()) return std::optional<uint64_t>();
  uint64_t value = 0;
  if (!absl::SimpleAtoi(**text, &value) || (*text)->front() == '+' ||
      (*text)->front() == '-' || value > max) {
    return absl::InvalidArgumentError(absl::StrCat("query parameter ", name,
                                                   " must be ", kind, ", not ",
                                                   common::QuoteEcho(**text)));
  }
  return std::optional<uint64_t>(value);
}

absl::StatusOr<uint64_t> Revision(const std::string& what,
                                  const std::string& text) {
  uint64_t revision = 0;
  if (!absl::SimpleAtoi(text, &revision) || text.front() == '+' ||
      text.front() == '-') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be a revision (a non-negative integer), not ",
                     common::QuoteEcho(text)));
  }
  return revision;
}

}  // namespace

absl::StatusOr<v1::GetElectionRequest> ElectionRequestFrom(
    const QueryParams& params) {
  absl::StatusOr<bool> include_stations = Flag(params, "include_stations");
  if (!include_stations.ok()) return include_stations.status();
  v1::GetElectionRequest request;
  request.set_include_stations(*include_stations);
  return request;
}

// contest=<id> and scope=<text>, each at most once, into a request's
// contest_id and scope (left unset when absent).
template <typename Request>
absl::Status ContestAndScope(const QueryParams& params, Request* request) {
  absl::StatusOr<std::optional<std::string>> contest =
      Single(params, "contest");
  if (!contest.ok()) return contest.status();
  if (contest->has_value()) request->set_contest_id(**contest);
  absl::StatusOr<std::optional<std::string>> scope = Single(params, "scope");
  if (!scope.ok()) return scope.status();
  if (scope->has_value()) {
    absl::StatusOr<v1::Scope> parsed = ScopeParam(**scope);
    if (!parsed.ok()) return parsed.status();
    *request->mutable_scope() = *std::move(parsed);
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GetResultsRequest> ResultsRequestFrom(
    const QueryParams& params) {
  v1::GetResultsRequest request;
  if (absl::Status status = ContestAndScope(params, &request); !status.ok()) {
    return status;
  }
  absl::StatusOr<bool> all_scopes = Flag(params, "all_scopes");
  if (!all_scopes.ok()) return all_scopes.status();
  request.set_all_scopes(*all_scopes);
  absl::StatusOr<std::optional<uint64_t>> revision =
      Number(params, "revision", "a revision (a non-negative integer)",
             std::numeric_limits<uint64_t>::max());
  if (!revision.ok()) return revision.status();
  request.set_revision(revision->value_or(0));
  return request;
}

absl::StatusOr<v1::GetForensicsRequest> ForensicsRequestFrom(
    const QueryParams& params) {
  v1::GetForensicsRequest request;
  if (absl::Status status = ContestAndScope(params, &request); !status.ok()) {
    return status;
  }
  return request;
}

absl::StatusOr<v1::WatchRequest> WatchRequestFrom(
    const QueryParams& params,
    const std::optional<std::string>& last_event_id) {
  v1::WatchRequest request;
  for (const std::string& contest : Values(params, "contest")) {
    request.add_contest_ids(contest);
  }
  for (const std::string& text : Values(params, "scope")) {
    absl::StatusOr<v1::Scope> scope = ScopeParam(text);
    if (!scope.ok()) return scope.status();
    *request.add_scopes() = *std::move(scope);
  }
  // A browser's EventSource resumes with Last-Event-ID, the id of the last
  // message it received; the page's own from_revision is then stale.
  if (last_event_id.has_value() && !last_event_id->empty()) {
    absl::StatusOr<uint64_t> revision =
        Revision("header Last-Event-ID", *last_event_id);
    if (!revision.ok()) return revision.status();
    request.set_from_revision(*revision);
    return request;
  }
  absl::StatusOr<std::optional<std::string>> from =
      Single(params, "from_revision");
  if (!from.ok()) return from.status();
  if (from->has_value()) {
    absl::StatusOr<uint64_t> revision =
        Revision("query parameter from_revision", **from);
    if (!revision.ok()) return revision.status();
    request.set_from_revision(*revision);
  }
  return request;
}

absl::StatusOr<nist::ExportLevel> ExportLevelFrom(const QueryParams& params) {
  absl::StatusOr<std::optional<std::string>> text = Single(params, "level");
  if (!text.ok()) return text.status();
  if (!text->has_value()) return nist::ExportLevel::kNational;
  absl::StatusOr<nist::ExportLevel> level = nist::ParseExportLevel(**text);
  if (!level.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "query parameter level must be national, region, district or "
        "station, not ",
        common::QuoteEcho(**text)));
  }
  return level;
}

absl::StatusOr<v1::GetTreeHeadRequest> TreeHeadRequestFrom(
    const QueryParams& params) {
  absl::StatusOr<std::optional<uint64_t>> revision =
      Number(params, "revision", "a revision (a non-negative integer)",
             std::numeric_limits<uint64_t>::max());
  if (!revision.ok()) return revision.status();
  v1::GetTreeHeadRequest request;
  request.set_revision(revision->value_or(0));
  return request;
}

absl::StatusOr<v1::GetInclusionProofRequest> ProofRequestFrom(
    const QueryParams& params) {
  v1::GetInclusionProofRequest request;
  absl::StatusOr<std::optional<std::string>> contest =
      Single(params, "contest");
  if (!contest.ok()) return contest.status();
  if (!contest->has_value()) {
    return absl::InvalidArgumentError(
        "query parameter contest is required (a contest id)");
  }
  request.set_contest_id(**contest);
  absl::StatusOr<std::optional<uint64_t>> station =
      Number(params, "station", "a station id (1 to 4294967295)",
             std::numeric_limits<uint32_t>::max());
  if (!station.ok()) return station.status();
  if (!station->has_value() || **station == 0) {
    return absl::InvalidArgumentError(
        "query parameter station is required (a station id, 1 to "
        "4294967295)");
  }
  request.set_station_id(static_cast<uint32_t>(**station));
  absl::StatusOr<std::optional<uint64_t>> version =
      Number(params, "version", "a version (0 to 4294967295)",
             std::numeric_limits<uint32_t>::max());
  if (!version.ok()) return version.status();
  request.set_version(static_cast<uint32_t>(version->value_or(0)));
  absl::StatusOr<std::optional<uint64_t>> tree_size =
      Number(params, "tree_size", "a tree size (a non-negative integer)",
             std::numeric_limits<uint64_t>::max());
  if (!tree_size.ok()) return tree_size.status();
  request.set_tree_size(tree_size->value_or(0));
  return request;
}

}  // namespace tally::gateway
