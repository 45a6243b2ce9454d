// tallyctl export --format nist-cdf [--level national|region|district|
// station] [--output FILE]: the current revision's results as a NIST SP
// 1500-100 v2 JSON ElectionReport (services/domain/nist_cdf.h). The
// election and the totals of every scope come from GetElection and
// GetResults (all_scopes); the station level adds each station's counted
// protocols, read from the transparency log up to the tree size of the
// very revision the totals are of, so that every figure in the report is
// of one revision.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/declare.h"
#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/log_client.h"
#include "services/domain/nist_cdf.h"
#include "services/transparency/durable_file.h"
#include "tally/v1/aggregator.grpc.pb.h"

ABSL_FLAG(std::string, format, "",
          "export: the standard to export to (nist-cdf: NIST SP 1500-100 v2 "
          "JSON)");
ABSL_FLAG(std::string, level, "national",
          "export: how deep the geography goes: national, region, district "
          "or station");
ABSL_DECLARE_FLAG(std::string, output);

namespace tally::cli {
namespace {

constexpr char kUsage[] =
    "usage: tallyctl export --format nist-cdf "
    "[--level national|region|district|station] [--output FILE]\n";

int Usage(const std::string& problem) {
  std::fprintf(stderr, "tallyctl export: %s\n%s", problem.c_str(), kUsage);
  return kExitBadInput;
}

int Failed(const absl::Status& status) {
  std::fprintf(stderr, "tallyctl export: %s\n",
               std::string(status.message()).c_str());
  return kExitFailure;
}

}  // namespace

int RunExport(const std::vector<std::string>& args) {
  if (args.size() > 1) return Usage("unexpected argument " + args[1]);
  const std::string format = absl::GetFlag(FLAGS_format);
  if (format.empty()) return Usage("--format is required (nist-cdf)");
  if (format != "nist-cdf") {
    return Usage(absl::StrCat("unknown --format \"", format,
                              "\"; the formats are: nist-cdf"));
  }
  absl::StatusOr<nist::ExportLevel> level =
      nist::ParseExportLevel(absl::GetFlag(FLAGS_level));
  if (!level.ok()) {
    return Usage(absl::StrCat("--", level.status().message()));
  }
  const bool stations = *level == nist::ExportLevel::kStation;

  CallTarget used;
  v1::GetElectionResponse election;
  grpc::Status status = FetchElection(&election, &used, stations);
  if (!status.ok()) {
    return ReportFailure("export", status, used.server, used.channel.get());
  }
  v1::GetResultsResponse results;
  status = CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        v1::GetResultsRequest request;
        request.set_all_scopes(true);
        results.Clear();
        return stub.GetResults(CallContext().get(), request, &results);
      },
      &used);
  if (!status.ok()) {
    return ReportFailure("export", status, used.server, used.channel.get());
  }

  nist::StationProtocols protocols;
  if (stations && results.revision() > 0) {
    // The replica that gave the results has their revision's log.
    LogClient log(used.channel, used.server,
                  absl::Milliseconds(absl::GetFlag(FLAGS_timeout_ms)));
    absl::StatusOr<v1::GetTreeHeadResponse> head =
        log.GetTreeHead(results.revision());
    if (!head.ok()) return Failed(head.status());
    const uint64_t tree_size = head->signed_head().head().tree_size();
    if (tree_size > 0) {
      absl::Status read = log.ReadLeaves(
          0, tree_size, [&](uint64_t, std::vector<std::string>& page) {
            for (const std::string& leaf : page) {
              if (absl::Status added = protocols.AddLeaf(leaf); !added.ok()) {
                return added;
              }
            }
            return absl::OkStatus();
          });
      if (!read.ok()) return Failed(read);
    }
  }

  nist::ExportInput input = nist::MakeExportInput(election.definition(),
                                                  &results, *level, &protocols);
  input.generated = absl::Now();
  absl::StatusOr<std::string> json = nist::NistCdfJson(input);
  if (!json.ok()) return Failed(json.status());
  const std::string output = absl::GetFlag(FLAGS_output);
  if (output.empty()) {
    std::fputs(json->c_str(), stdout);
    return kExitOk;
  }
  absl::Status written = transparency::WriteFileDurably(
      output, *json, 0644, transparency::Existing::kReplace);
  if (!written.ok()) return Failed(written);
  return kExitOk;
}

}  // namespace tally::cli
