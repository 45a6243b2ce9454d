// tallyctl results | composition | station | verify: reading the
// aggregator.
//
//   tallyctl results [--contest C] [--scope S] [--all_scopes] [--json]
//   tallyctl composition [--json]
//   tallyctl station ID [--contest C] [--json]
//   tallyctl verify [--db DIR] [--json]
// verify without --db asks the running aggregator; with --db it opens the
// store directly (the aggregator must be stopped: RocksDB locks the
// directory).
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/results_view.h"
#include "services/domain/composition.h"
#include "services/domain/election_index.h"
#include "services/domain/proto_json.h"
#include "services/domain/scope_text.h"
#include "storage/aggregator_store.h"
#include "storage/consistency_check.h"
#include "tally/v1/aggregator.grpc.pb.h"

ABSL_FLAG(bool, all_scopes, false,
          "results: also every region and district of the contest(s)");
ABSL_FLAG(std::string, db, "",
          "verify: the aggregator's data directory, checked offline");

namespace tally::cli {
namespace {

int UsageError(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "tallyctl %s: %s\n", command.c_str(), message.c_str());
  return kExitBadInput;
}

}  // namespace

int RunResults(const std::vector<std::string>& args) {
  if (args.size() > 1)
    return UsageError("results", "unexpected argument " + args[1]);
  v1::GetResultsRequest request;
  request.set_contest_id(absl::GetFlag(FLAGS_contest));
  request.set_all_scopes(absl::GetFlag(FLAGS_all_scopes));
  if (!absl::GetFlag(FLAGS_scope).empty()) {
    absl::StatusOr<v1::Scope> scope = ParseScope(absl::GetFlag(FLAGS_scope));
    if (!scope.ok())
      return UsageError("results", std::string(scope.status().message()));
    *request.mutable_scope() = *scope;
  }
  v1::GetResultsResponse response;
  CallTarget used;
  grpc::Status status = CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        response.Clear();
        return stub.GetResults(CallContext().get(), request, &response);
      },
      &used);
  if (!status.ok()) {
    return ReportFailure("results", status, used.server, used.channel.get());
  }
  if (absl::GetFlag(FLAGS_json)) return PrintJson(response);

  v1::GetElectionResponse election;
  status = FetchElection(&election, &used);
  if (!status.ok()) {
    return ReportFailure("results", status, used.server, used.channel.get());
  }
  const ElectionNames names(election.definition());
  std::printf("%s, revision %llu\n\n", names.definition().name().c_str(),
              static_cast<unsigned long long>(response.revision()));
  // Full tables for national contests and explicit requests; one line per
  // district contest otherwise, so a 29-district chamber fits a screen.
  const bool compact_districts =
      request.contest_id().empty() && !request.all_scopes();
  std::vector<const v1::SeatAllocation*> allocations;
  for (const v1::ContestResults& result : response.results()) {
    const v1::SeatAllocation* allocation =
        result.has_allocation() ? &result.allocation() : nullptr;
    if (allocation != nullptr) allocations.push_back(allocation);
    const v1::Contest* contest = names.contest(result.totals().contest_id());
    if (compact_districts && contest != nullptr &&
        !contest->district_id().empty()) {
      std::fputs(RenderContestLine(names, result.totals(), allocation).c_str(),
                 stdout);
      continue;
    }
    std::printf("%s\n",
                RenderContest(names, result.totals(), allocation).c_str());
  }
  if (allocations.size() > 1) {
    std::printf("\n%s", RenderComposition(
                            ComputeComposition(names.definition(), allocations))
                            .c_str());
  }
  if (!allocations.empty()) {
    std::printf("\n%s", RenderDecisionSummary(names, allocations).c_str());
  }
  return kExitOk;
}

int RunComposition(const std::vector<std::string>& args) {
  if (args.size() > 1)
    return UsageError("composition", "unexpected argument " + args[1]);
  // Every contest at its own scope (the default request), and the
  // definition that names the parties.
  v1::GetResultsResponse response;
  v1::GetElectionResponse election;
  CallTarget used;
  grpc::Status status = CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        response.Clear();
        return stub.GetResults(CallContext().get(), v1::GetResultsRequest(),
                               &response);
      },
      &used);
  if (status.ok()) {
    status = FetchElection(&election, &used);
  }
  if (!status.ok()) {
    return ReportFailure("composition", status, used.server,
                         used.channel.get());
  }
  std::vector<const v1::SeatAllocation*> allocations;
  for (const v1::ContestResults& result : response.results()) {
    if (result.has_allocation()) allocations.push_back(&result.allocation());
  }
  const v1::ChamberComposition composition =
      ComputeComposition(election.definition(), allocations);
  if (absl::GetFlag(FLAGS_json)) {
    // Every field, zeros included: the form scripts rely on
    // (docs/ARCHITECTURE.md, "Chamber composition").
    absl::StatusOr<std::string> json =
        ToJson(composition, {.pretty = true, .print_defaults = true});
    if (!json.ok()) {
      std::fprintf(stderr, "tallyctl composition: %s\n",
                   std::string(json.status().message()).c_str());
      return kExitFailure;
    }
    std::fputs(json->c_str(), stdout);
    return kExitOk;
  }
  std::printf("%s, revision %llu\n\n%s", election.definition().name().c_str(),
              static_cast<unsigned long long>(response.revision()),
              RenderComposition(composition).c_str());
  return kExitOk;
}

int RunStation(const std::vector<std::string>& args) {
  uint32_t station_id = 0;
  if (args.size() != 2 || !absl::SimpleAtoi(args[1], &station_id)) {
    return UsageError("station", "usage: tallyctl station ID [--contest C]");
  }
  v1::GetStationRequest request;
  request.set_station_id(station_id);
  request.set_contest_id(absl::GetFlag(FLAGS_contest));
  v1::GetStationResponse response;
  CallTarget used;
  grpc::Status status = CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        response.Clear();
        return stub.GetStation(CallContext().get(), request, &response);
      },
      &used);
  if (!status.ok()) {
    return ReportFailure("station", status, used.server, used.channel.get());
  }
  if (absl::GetFlag(FLAGS_json)) return PrintJson(response);
  const v1::PollingStation& station = response.station();
  std::printf("station %u %s, region %s, district %s, %llu registered%s\n",
              station.id(), station.code().c_str(), station.region_id().c_str(),
              station.district_id().c_str(),
              static_cast<unsigned long long>(station.registered_voters()),
              station.abroad() ? ", abroad" : "");
  for (const v1::StationContestHistory& contest : response.contests()) {
    std::printf("  %s: counted version %u\n", contest.contest_id().c_str(),
                contest.current_version());
    for (const v1::ProtocolVersion& version : contest.versions()) {
      const v1::BallotAccounting& a = version.protocol().accounting();
      std::printf(
          "    v%u  revision %llu  from %s #%llu  found %llu, invalid %llu, "
          "against all %llu%s\n",
          version.protocol().version(),
          static_cast<unsigned long long>(version.revision()),
          version.collector_id().c_str(),
          static_cast<unsigned long long>(version.collector_seq()),
          static_cast<unsigned long long>(a.ballots_found()),
          static_cast<unsigned long long>(a.invalid()),
          static_cast<unsigned long long>(a.against_all()),
          version.findings_size() > 0
              ? absl::StrCat("  anomalies: ", version.findings(0).rule())
                    .c_str()
              : "");
    }
  }
  return kExitOk;
}

namespace {

int PrintReport(const v1::VerifyResponse& report) {
  if (absl::GetFlag(FLAGS_json)) {
    PrintJson(report);
  } else {
    std::printf(
        "verified revision %llu: %llu stored versions, %llu counted "
        "protocols, %llu totals compared, %d differences\n",
        static_cast<unsigned long long>(report.revision()),
        static_cast<unsigned long long>(report.protocol_versions()),
        static_cast<unsigned long long>(report.protocols_counted()),
        static_cast<unsigned long long>(report.totals_compared()),
        report.differences_size());
    for (const std::string& difference : report.differences()) {
      std::printf("  %s\n", difference.c_str());
    }
  }
  return report.differences_size() == 0 ? kExitOk : kExitFailure;
}

int VerifyOffline(const std::string& dir) {
  storage::StoreOptions options;
  options.create_if_missing = false;
  absl::StatusOr<std::unique_ptr<storage::AggregatorStore>> store =
      storage::AggregatorStore::Open(dir, options);
  if (!store.ok()) {
    std::fprintf(stderr, "tallyctl verify: %s\n",
                 std::string(store.status().message()).c_str());
    return kExitFailure;
  }
  absl::StatusOr<std::optional<v1::ElectionDefinition>> definition =
      (*store)->LoadDefinition();
  if (!definition.ok() || !definition->has_value()) {
    std::fprintf(stderr, "tallyctl verify: %s holds no election definition\n",
                 dir.c_str());
    return kExitFailure;
  }
  absl::StatusOr<std::unique_ptr<ElectionIndex>> index =
      ElectionIndex::Build(**std::move(definition));
  if (!index.ok()) {
    std::fprintf(stderr, "tallyctl verify: stored definition: %s\n",
                 std::string(index.status().message()).c_str());
    return kExitFailure;
  }
  absl::StatusOr<storage::VerifyReport> report =
      storage::VerifyStore(**store, **index);
  if (!report.ok()) {
    std::fprintf(stderr, "tallyctl verify: %s\n",
                 std::string(report.status().message()).c_str());
    return kExitFailure;
  }
  v1::VerifyResponse response;
  response.set_revision(report->revision);
  response.set_protocol_versions(report->protocol_versions);
  response.set_protocols_counted(report->protocols_counted);
  response.set_totals_compared(report->totals_compared);
  for (const std::string& difference : report->differences) {
    response.add_differences(difference);
  }
  return PrintReport(response);
}

}  // namespace

int RunVerify(const std::vector<std::string>& args) {
  if (args.size() > 1)
    return UsageError("verify", "unexpected argument " + args[1]);
  const std::string dir = absl::GetFlag(FLAGS_db);
  if (!dir.empty()) return VerifyOffline(dir);
  v1::VerifyResponse response;
  CallTarget used;
  // Reading every stored protocol takes longer than a query.
  grpc::Status status = CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        response.Clear();
        return stub.Verify(CallContext(absl::Minutes(10)).get(),
                           v1::VerifyRequest(), &response);
      },
      &used);
  if (!status.ok()) {
    return ReportFailure("verify", status, used.server, used.channel.get());
  }
  return PrintReport(response);
}

}  // namespace tally::cli
