// Validation of one station protocol.
//
// Order of the checks:
//  1. Who and where: contest, station, caller's region, station in contest.
//     The first failure ends validation: nothing else can be judged without
//     a known contest and station.
//  2. Form: version, accounting present, counts within 2^40, vote lines
//     naming distinct choices of the contest, against all only when on the
//     ballot, a supplied digest matching the content. All failures are
//     listed; they always reject.
//  3. Ballot accounting, only for a protocol that passed 1 and 2 (the sums
//     mean nothing with unknown or repeated lines): each rule rejects or
//     flags an anomaly as the definition's ValidationPolicy says.
// The verdict's status is that of the first rejecting finding.
#include "services/domain/protocol_validation.h"

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "services/common/echo.h"
#include "services/domain/ballot_cap.h"
#include "services/domain/protocol_digest.h"

namespace tally {
namespace {

// Every count a protocol may carry; keeps all sums and the exact seat
// arithmetic far from 64-bit overflow (see services/domain/rational.h).
constexpr uint64_t kMaxCount = uint64_t{1} << 40;

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

// Unspecified (and any unknown value) means reject.
v1::Severity Effective(v1::Severity severity) {
  return severity == v1::SEVERITY_ANOMALY ? v1::SEVERITY_ANOMALY
                                          : v1::SEVERITY_REJECT;
}

class VerdictBuilder {
 public:
  void Reject(absl::StatusCode code, absl::string_view rule,
              absl::string_view field, absl::string_view message) {
    Add(code, v1::SEVERITY_REJECT, rule, field, message);
  }

  // An accounting rule: INVALID_ARGUMENT when it rejects.
  void Accounting(v1::Severity severity, absl::string_view rule,
                  absl::string_view field, absl::string_view message) {
    Add(absl::StatusCode::kInvalidArgument, Effective(severity), rule, field,
        message);
  }

  bool rejected() const { return !verdict_.status.ok(); }
  ProtocolVerdict Finish() && { return std::move(verdict_); }

 private:
  void Add(absl::StatusCode code, v1::Severity severity, absl::string_view rule,
           absl::string_view field, absl::string_view message) {
    v1::Finding& finding = verdict_.findings.emplace_back();
    finding.set_rule(std::string(rule));
    finding.set_field(std::string(field));
    finding.set_message(std::string(message));
    finding.set_severity(severity);
    if (severity == v1::SEVERITY_REJECT && verdict_.status.ok()) {
      verdict_.status = absl::Status(
          code, absl::StrCat(field, ": ", message, " (rule ", rule, ")"));
    }
  }

  ProtocolVerdict verdict_;
};

// Step 1. Returns the station when contest and station are acceptable.
const v1::PollingStation* CheckIdentity(const ElectionIndex& index,
                                        const v1::StationProtocol& protocol,
                                        const ValidationContext& context,
                                        const ContestInfo** contest_info,
                                        VerdictBuilder* verdict) {
  using absl::StatusCode;
  if (protocol.contest_id().empty()) {
    verdict->Reject(StatusCode::kInvalidArgument, "contest_required",
                    "contest_id", "contest_id is required");
    return nullptr;
  }
  const ContestInfo* info = index.FindContest(protocol.contest_id());
  if (info == nullptr) {
    verdict->Reject(
        StatusCode::kNotFound, "unknown_contest", "contest_id",
        absl::StrCat("contest ", common::QuoteEcho(protocol.contest_id()),
                     " is not defined in the election"));
    return nullptr;
  }
  if (protocol.station_id() == 0) {
    verdict->Reject(StatusCode::kInvalidArgument, "station_required",
                    "station_id", "station_id is required (>= 1)");
    return nullptr;
  }
  const v1::PollingStation* station = index.FindStation(protocol.station_id());
  if (station == nullptr) {
    verdict->Reject(StatusCode::kNotFound, "unknown_station", "station_id",
                    absl::StrCat("station ", protocol.station_id(),
                                 " is not defined in the election"));
    return nullptr;
  }
  if (!context.caller_region_id.empty() &&
      station->region_id() != context.caller_region_id) {
    verdict->Reject(
        StatusCode::kPermissionDenied, "station_outside_region", "station_id",
        absl::StrCat("station ", station->id(), " belongs to region ",
                     common::QuoteEcho(station->region_id()),
                     ", not to the caller's region ",
                     common::QuoteEcho(context.caller_region_id)));
    return nullptr;
  }
  const v1::Contest& contest = *info->contest;
  if (!index.StationVotesIn(*station, contest)) {
    verdict->Reject(
        StatusCode::kInvalidArgument, "station_not_in_contest", "station_id",
        absl::StrCat("station ", station->id(), " (district ",
                     common::QuoteEcho(station->district_id()),
                     ") does not vote in contest ",
                     common::QuoteEcho(contest.id()), " (district ",
                     common::QuoteEcho(contest.district_id()), ")"));
    return nullptr;
  }
  *contest_info = info;
  return station;
}

void CheckCount(absl::string_view field, uint64_t value,
                VerdictBuilder* verdict) {
  if (value <= kMaxCount) return;
  verdict->Reject(
      absl::StatusCode::kInvalidArgument, "count_too_large", field,
      absl::StrCat("count ", value, " exceeds the limit ", kMaxCount));
}

void CheckAccountingLines(const v1::StationProtocol& protocol,
                          VerdictBuilder* verdict) {
  if (!protocol.has_accounting()) {
    verdict->Reject(absl::StatusCode::kInvalidArgument, "accounting_required",
                    "accounting", "the ballot accounting lines are required");
    return;
  }
  const v1::BallotAccounting& a = protocol.accounting();
  CheckCount("accounting.registered_voters", a.registered_voters(), verdict);
  CheckCount("accounting.ballots_received", a.ballots_received(), verdict);
  CheckCount("accounting.ballots_issued", a.ballots_issued(), verdict);
  CheckCount("accounting.ballots_found", a.ballots_found(), verdict);
  CheckCount("accounting.invalid", a.invalid(), verdict);
  CheckCount("accounting.against_all", a.against_all(), verdict);
  CheckCount("accounting.unused_cancelled", a.unused_cancelled(), verdict);
}

void CheckVoteLines(const ContestInfo& info,
                    const v1::StationProtocol& protocol,
                    VerdictBuilder* verdict) {
  absl::flat_hash_set<absl::string_view> seen;
  seen.reserve(protocol.votes_size());
  for (const v1::ChoiceVotes& line : protocol.votes()) {
    const bool known = info.choice_index.contains(line.choice_id());
    const bool repeated = known && !seen.insert(line.choice_id()).second;
    // The field name is built only for a finding: this runs for every vote
    // line of every protocol.
    if (known && !repeated && line.votes() <= kMaxCount) continue;
    const std::string field = absl::StrCat(
        "votes[choice_id=",
        common::Echo(line.choice_id(), common::kMaxEchoInFieldBytes), "]");
    if (!known) {
      verdict->Reject(
          absl::StatusCode::kInvalidArgument, "unknown_choice", field,
          absl::StrCat("choice ", common::QuoteEcho(line.choice_id()),
                       " is not on the ballot of contest ",
                       common::QuoteEcho(info.contest->id())));
    } else if (repeated) {
      verdict->Reject(
          absl::StatusCode::kInvalidArgument, "repeated_choice", field,
          absl::StrCat("choice ", common::QuoteEcho(line.choice_id()),
                       " appears more than once"));
    }
    CheckCount(field, line.votes(), verdict);
  }
}

// Step 2.
void CheckForm(const ContestInfo& info, const v1::StationProtocol& protocol,
               VerdictBuilder* verdict) {
  if (protocol.version() == 0) {
    verdict->Reject(absl::StatusCode::kInvalidArgument, "version_required",
                    "version", "version is required (>= 1)");
  }
  CheckAccountingLines(protocol, verdict);
  CheckVoteLines(info, protocol, verdict);
  if (protocol.accounting().against_all() > 0 &&
      !info.contest->against_all_on_ballot()) {
    verdict->Reject(
        absl::StatusCode::kInvalidArgument, "against_all_not_on_ballot",
        "accounting.against_all",
        absl::StrCat("against_all is ", protocol.accounting().against_all(),
                     " but contest ", common::QuoteEcho(info.contest->id()),
                     " has no \"against all\" line on the ballot"));
  }
  if (!protocol.digest().empty()) {
    const std::string computed = ProtocolDigest(protocol);
    if (protocol.digest().size() != computed.size()) {
      // Not a digest at all: say so instead of echoing it.
      verdict->Reject(
          absl::StatusCode::kInvalidArgument, "digest_mismatch", "digest",
          absl::StrCat("supplied digest has ", protocol.digest().size(),
                       " bytes, not the ", computed.size(), " of SHA-256"));
    } else if (protocol.digest() != computed) {
      verdict->Reject(
          absl::StatusCode::kInvalidArgument, "digest_mismatch", "digest",
          absl::StrCat("supplied digest ", HexEncode(protocol.digest()),
                       " does not match the content digest ",
                       HexEncode(computed)));
    }
  }
}

std::string RegisterDescription(uint64_t registered, uint64_t cap) {
  return absl::StrCat("the station's register ", registered,
                      " plus allowed same-day additions ", cap - registered,
                      " = ", cap);
}

// Step 3.
void CheckAccounting(const v1::PollingStation& station,
                     const v1::ValidationPolicy& policy,
                     const v1::StationProtocol& protocol,
                     VerdictBuilder* verdict) {
  const v1::BallotAccounting& a = protocol.accounting();
  uint64_t votes = 0;
  for (const v1::ChoiceVotes& line : protocol.votes()) {
    votes = SaturatingAdd(votes, line.votes());
  }
  const uint64_t counted =
      SaturatingAdd(SaturatingAdd(votes, a.against_all()), a.invalid());
  if (counted != a.ballots_found()) {
    verdict->Accounting(
        policy.votes_sum(), "votes_sum", "accounting.ballots_found",
        absl::StrCat("votes ", votes, " + against all ", a.against_all(),
                     " + invalid ", a.invalid(), " = ", counted,
                     " but ballots_found is ", a.ballots_found()));
  }
  if (a.ballots_found() > a.ballots_issued()) {
    verdict->Accounting(
        policy.found_le_issued(), "found_le_issued", "accounting.ballots_found",
        absl::StrCat("ballots_found ", a.ballots_found(),
                     " exceeds ballots_issued ", a.ballots_issued()));
  }
  if (a.ballots_issued() > a.ballots_received()) {
    verdict->Accounting(
        policy.issued_le_received(), "issued_le_received",
        "accounting.ballots_issued",
        absl::StrCat("ballots_issued ", a.ballots_issued(),
                     " exceeds ballots_received ", a.ballots_received()));
  }

  const uint64_t registered = station.registered_voters();
  // The same cap the seat ranges bound the outstanding ballots by.
  const uint64_t cap = StationBallotCap(station, policy);
  // Bounded by the definition too, so that an inflated registered line
  // cannot carry inflated issued ballots past this rule.
  if (a.ballots_issued() > a.registered_voters()) {
    verdict->Accounting(
        policy.issued_le_registered(), "issued_le_registered",
        "accounting.ballots_issued",
        absl::StrCat("ballots_issued ", a.ballots_issued(),
                     " exceeds registered_voters ", a.registered_voters()));
  } else if (a.ballots_issued() > cap) {
    verdict->Accounting(
        policy.issued_le_registered(), "issued_le_registered",
        "accounting.ballots_issued",
        absl::StrCat("ballots_issued ", a.ballots_issued(), " exceeds ",
                     RegisterDescription(registered, cap)));
  }
  // Without issued <= received the difference is meaningless (reported
  // above as issued_le_received).
  if (a.ballots_issued() <= a.ballots_received() &&
      a.ballots_received() - a.ballots_issued() != a.unused_cancelled()) {
    verdict->Accounting(
        policy.unused_balance(), "unused_balance",
        "accounting.unused_cancelled",
        absl::StrCat("ballots_received ", a.ballots_received(),
                     " - ballots_issued ", a.ballots_issued(), " = ",
                     a.ballots_received() - a.ballots_issued(),
                     " but unused_cancelled is ", a.unused_cancelled()));
  }
  if (a.registered_voters() < registered) {
    verdict->Accounting(
        policy.registered_matches(), "registered_matches",
        "accounting.registered_voters",
        absl::StrCat("registered_voters ", a.registered_voters(),
                     " is below the station's register ", registered));
  } else if (a.registered_voters() > cap) {
    verdict->Accounting(
        policy.registered_matches(), "registered_matches",
        "accounting.registered_voters",
        absl::StrCat("registered_voters ", a.registered_voters(), " exceeds ",
                     RegisterDescription(registered, cap)));
  }
}

}  // namespace

ProtocolVerdict ValidateProtocol(const ElectionIndex& index,
                                 const v1::StationProtocol& protocol,
                                 const ValidationContext& context) {
  VerdictBuilder verdict;
  const ContestInfo* info = nullptr;
  const v1::PollingStation* station =
      CheckIdentity(index, protocol, context, &info, &verdict);
  if (station == nullptr) return std::move(verdict).Finish();
  CheckForm(*info, protocol, &verdict);
  if (verdict.rejected()) return std::move(verdict).Finish();
  CheckAccounting(*station, index.definition().validation(), protocol,
                  &verdict);
  return std::move(verdict).Finish();
}

}  // namespace tally
