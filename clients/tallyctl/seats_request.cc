#include "clients/tallyctl/seats_request.h"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "services/domain/contest_allocation.h"
#include "services/domain/proto_json.h"

namespace tally::cli {
namespace {

absl::StatusOr<seats::VoteBase> ParseBase(const std::string& name) {
  if (name.empty() || name == "list_votes") return seats::VoteBase::kListVotes;
  if (name == "valid_votes") return seats::VoteBase::kValidVotes;
  if (name == "ballots_cast") return seats::VoteBase::kBallotsCast;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown threshold_base \"", name,
                   "\" (expected list_votes, valid_votes or ballots_cast)"));
}

// A JSON number such as 5 or 3.25 arrives as a double; its shortest
// round-trip decimal form is the number the user wrote, which ParsePercent
// then reads exactly.
absl::StatusOr<Rational> ThresholdShare(double percent) {
  if (!(percent >= 0 && percent <= 100)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "threshold_percent must be between 0 and 100 (got ", percent, ")"));
  }
  if (percent == 0) return Rational{0, 1};
  char buffer[64];
  auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), percent,
                                 std::chars_format::fixed);
  if (ec != std::errc()) {
    return absl::InvalidArgumentError("threshold_percent is not a number");
  }
  return seats::ParsePercent(std::string(buffer, end));
}

absl::StatusOr<seats::Input> ToInput(const v1::SeatsRequest& request) {
  if (request.seats() < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("seats must be >= 1 (got ", request.seats(), ")"));
  }
  if (request.seats() > UINT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("seats is too large (got ", request.seats(), ")"));
  }
  if (request.method().empty()) {
    return absl::InvalidArgumentError("method is required");
  }
  absl::StatusOr<seats::Method> method = seats::ParseMethod(request.method());
  if (!method.ok()) return method.status();
  if (request.votes().empty()) {
    return absl::InvalidArgumentError("no parties: \"votes\" is empty");
  }
  if (request.against_all() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "against_all must be >= 0 (got ", request.against_all(), ")"));
  }
  if (request.invalid() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid must be >= 0 (got ", request.invalid(), ")"));
  }
  seats::Input input;
  input.method = *method;
  input.seats = static_cast<uint32_t>(request.seats());
  absl::StatusOr<Rational> threshold =
      ThresholdShare(request.threshold_percent());
  if (!threshold.ok()) return threshold.status();
  input.threshold = *threshold;
  absl::StatusOr<seats::VoteBase> base = ParseBase(request.threshold_base());
  if (!base.ok()) return base.status();
  input.threshold_base = *base;
  if (request.tie_rule() == "lowest-id") {
    input.tie_rule = seats::TieRule::kLowestId;
  } else if (!request.tie_rule().empty() && request.tie_rule() != "lot") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown tie_rule \"", request.tie_rule(),
                     "\" (expected lot or lowest-id)"));
  }
  input.tie_seed = request.tie_seed();
  for (const auto& [name, votes] : request.votes()) {
    if (votes < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "votes for \"", name, "\" must be >= 0 (got ", votes, ")"));
    }
    input.choices.push_back({name, static_cast<uint64_t>(votes)});
  }
  // The result does not depend on input order; listing by votes makes the
  // output readable (JSON maps arrive in no particular order).
  std::sort(input.choices.begin(), input.choices.end(),
            [](const seats::ChoiceVotes& a, const seats::ChoiceVotes& b) {
              return a.votes != b.votes ? a.votes > b.votes : a.id < b.id;
            });
  input.against_all = static_cast<uint64_t>(request.against_all());
  input.invalid = static_cast<uint64_t>(request.invalid());
  return input;
}

}  // namespace

absl::StatusOr<seats::Input> ParseSeatsRequest(const std::string& json) {
  v1::SeatsRequest request;
  if (absl::Status parsed = ParseJson(json, &request); !parsed.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("malformed input JSON: ", parsed.message()));
  }
  return ToInput(request);
}

v1::SeatsResponse SeatsResponseOf(const seats::Input& input,
                                  const seats::Result& result) {
  v1::SeatsResponse response;
  for (const seats::ChoiceResult& choice : result.choices) {
    (*response.mutable_seats())[choice.id] = choice.seats;
    if (choice.passed_threshold) response.add_passed_threshold(choice.id);
  }
  std::sort(response.mutable_passed_threshold()->begin(),
            response.mutable_passed_threshold()->end());
  FillAllocation(input, result, response.mutable_allocation());
  return response;
}

std::string SeatsTable(const seats::Input& input, const seats::Result& result) {
  std::vector<const seats::ChoiceResult*> rows;
  for (const auto& choice : result.choices) rows.push_back(&choice);
  std::sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    if (a->seats != b->seats) return a->seats > b->seats;
    if (a->votes != b->votes) return a->votes > b->votes;
    return a->id < b->id;
  });
  std::string out = absl::StrFormat("%-28s %12s %6s  %s\n", "list", "votes",
                                    "seats", "threshold");
  for (const auto* row : rows) {
    absl::StrAppendFormat(&out, "%-28s %12d %6d  %s\n", row->id, row->votes,
                          row->seats, row->passed_threshold ? "passed" : "-");
  }
  absl::StrAppendFormat(&out, "%-28s %12s %6d\n", "total", "", input.seats);
  absl::StrAppendFormat(&out, "method %s, quota %s, threshold %d votes\n",
                        seats::MethodName(input.method),
                        result.quota.ToDecimal(3), result.threshold_votes);
  if (result.last_seat.has_value()) {
    absl::StrAppendFormat(
        &out, "last seat: %s; next in line %s needs %d more votes\n",
        result.last_seat->winner, result.last_seat->runner_up,
        result.last_seat->margin_votes);
  }
  return out;
}

}  // namespace tally::cli
