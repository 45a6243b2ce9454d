#include "services/gateway/query_params.h"

#include <cstdint>
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

absl::StatusOr<v1::GetResultsRequest> ResultsRequestFrom(
    const QueryParams& params) {
  v1::GetResultsRequest request;
  absl::StatusOr<std::optional<std::string>> contest =
      Single(params, "contest");
  if (!contest.ok()) return contest.status();
  if (contest->has_value()) request.set_contest_id(**contest);
  absl::StatusOr<std::optional<std::string>> scope = Single(params, "scope");
  if (!scope.ok()) return scope.status();
  if (scope->has_value()) {
    absl::StatusOr<v1::Scope> parsed = ScopeParam(**scope);
    if (!parsed.ok()) return parsed.status();
    *request.mutable_scope() = *std::move(parsed);
  }
  absl::StatusOr<bool> all_scopes = Flag(params, "all_scopes");
  if (!all_scopes.ok()) return all_scopes.status();
  request.set_all_scopes(*all_scopes);
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

}  // namespace tally::gateway
