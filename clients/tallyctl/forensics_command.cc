// tallyctl forensics [--contest C] [--scope S] [--json]: the statistical
// warning signs of one contest and scope (GetForensics), drawn as a
// terminal heat map with the statistics and flags, or as JSON.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/forensics_view.h"
#include "clients/tallyctl/grpc_client.h"
#include "clients/tallyctl/results_view.h"
#include "services/domain/scope_text.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::cli {

int RunForensics(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    std::fprintf(stderr, "tallyctl forensics: unexpected argument %s\n",
                 args[1].c_str());
    return kExitBadInput;
  }
  v1::GetForensicsRequest request;
  request.set_contest_id(absl::GetFlag(FLAGS_contest));
  if (!absl::GetFlag(FLAGS_scope).empty()) {
    absl::StatusOr<v1::Scope> scope = ParseScope(absl::GetFlag(FLAGS_scope));
    if (!scope.ok()) {
      std::fprintf(stderr, "tallyctl forensics: %s\n",
                   std::string(scope.status().message()).c_str());
      return kExitBadInput;
    }
    *request.mutable_scope() = *scope;
  }
  v1::GetForensicsResponse response;
  CallTarget used;
  grpc::Status status = CallAggregator(
      [&](v1::Aggregator::Stub& stub) {
        response.Clear();
        return stub.GetForensics(CallContext().get(), request, &response);
      },
      &used);
  if (!status.ok()) {
    return ReportFailure("forensics", status, used.server, used.channel.get());
  }
  if (absl::GetFlag(FLAGS_json)) return PrintJson(response);
  v1::GetElectionResponse election;
  status = FetchElection(&election, &used);
  if (!status.ok()) {
    return ReportFailure("forensics", status, used.server, used.channel.get());
  }
  const ElectionNames names(election.definition());
  std::fputs(RenderForensics(names, response).c_str(), stdout);
  return kExitOk;
}

}  // namespace tally::cli
