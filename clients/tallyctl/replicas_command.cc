// tallyctl replicas: the role and position of every replica of
// --aggregator (GetReplicaStatus on each address of the list), for
// operators and scripts. One line per replica:
//
//   aggregator-0 LEADER epoch 42 revision 7877 round 913 127.0.0.1:7401
//   aggregator-1 FOLLOWER epoch 42 revision 7877 round 913 127.0.0.1:7402
//   127.0.0.1:7403 UNREACHABLE no aggregator at 127.0.0.1:7403 (...)
//
// or, with --json, one tally.v1.ReplicaStatus object per line (the
// unreachable ones as {"address": ..., "error": ...}). Exits 0 when exactly
// one replica leads, 1 otherwise.
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "clients/tallyctl/client_flags.h"
#include "clients/tallyctl/commands.h"
#include "clients/tallyctl/grpc_client.h"
#include "services/domain/proto_json.h"
#include "services/observability/json_text.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::cli {

int RunReplicas(const std::vector<std::string>& args) {
  if (args.size() > 1) {
    std::fprintf(stderr, "tallyctl replicas: unexpected argument %s\n",
                 args[1].c_str());
    return kExitBadInput;
  }
  const bool json = absl::GetFlag(FLAGS_json);
  int leaders = 0;
  for (const rpc::Replicas::Target& target : AggregatorReplicas().All()) {
    auto stub = v1::Aggregator::NewStub(target.channel);
    v1::ReplicaStatus status;
    const grpc::Status answer = stub->GetReplicaStatus(
        CallContext().get(), v1::GetReplicaStatusRequest(), &status);
    if (!answer.ok()) {
      ServerRef server = AggregatorRef();
      server.address = target.address;
      const std::string why =
          DescribeUnreachable(answer, server, target.channel.get())
              .value_or(answer.error_message());
      if (json) {
        std::printf("{\"address\": %s, \"error\": %s}\n",
                    obs::JsonQuote(target.address).c_str(),
                    obs::JsonQuote(why).c_str());
      } else {
        std::printf("%s UNREACHABLE %s\n", target.address.c_str(), why.c_str());
      }
      continue;
    }
    if (status.role() == v1::ReplicaStatus::LEADER) ++leaders;
    if (json) {
      absl::StatusOr<std::string> line = ToJson(status, {.pretty = false});
      std::printf("%s\n", line.ok() ? line->c_str() : "{}");
      continue;
    }
    std::printf("%s %s epoch %llu revision %llu round %llu %s\n",
                status.replica_id().c_str(),
                v1::ReplicaStatus::Role_Name(status.role()).c_str(),
                static_cast<unsigned long long>(status.epoch()),
                static_cast<unsigned long long>(status.applied_revision()),
                static_cast<unsigned long long>(status.applied_log_index()),
                target.address.c_str());
  }
  if (leaders != 1 && !json) {
    std::fprintf(stderr, "tallyctl replicas: %d leaders among %zu replicas\n",
                 leaders, AggregatorReplicas().size());
  }
  return leaders == 1 ? kExitOk : kExitFailure;
}

}  // namespace tally::cli
