// What a replica does before it opens its store (--etcd_endpoints):
//  1. reads what the store holds (definition, cluster, log position);
//  2. binds to the cluster in etcd: the first replica records the cluster
//     id and the definition digest; every later one must run the same
//     definition, and its store must belong to this cluster (a store of a
//     single aggregator, or of another cluster, is refused: its revisions
//     did not come from this log);
//  3. agrees on the transparency log's signing key: every replica signs
//     the same heads with one key. The first replica records its public
//     key; a replica given another one (--log_signing_key) is refused.
//     Without --log_signing_key the first replica generates the key and
//     keeps it in etcd for the others;
//  4. when the store cannot resume from the log (it is empty while the log
//     no longer starts at round 1, or the rounds after its position were
//     truncated), copies the store of the most advanced live peer.
// Everything that is refused is refused with one line naming the store,
// the cluster and what to do.
#ifndef TALLY_SERVICES_AGGREGATOR_REPLICA_SETUP_H_
#define TALLY_SERVICES_AGGREGATOR_REPLICA_SETUP_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "services/etcd/client.h"
#include "services/replication/cluster_keys.h"
#include "services/transparency/ed25519.h"
#include "tally/v1/election.pb.h"

namespace tally::aggregator {

struct ReplicationConfig {
  // host:port of each etcd member (--etcd_endpoints); empty: single node.
  std::vector<std::string> etcd_endpoints;
  // Null: plain text to etcd.
  std::shared_ptr<grpc::ChannelCredentials> etcd_credentials;
  // Keys live under PREFIX<election id>/.
  std::string etcd_prefix = "/tally/";
  std::string replica_id;
  // HOST:PORT that collectors and peers reach this replica at.
  std::string advertise;
  int64_t lease_ttl_seconds = 2;
  size_t max_round_bytes = 256 << 10;
  // Credentials to reach peers (copying a store); null: plain text.
  std::shared_ptr<grpc::ChannelCredentials> peer_credentials;
  absl::Duration copy_timeout = absl::Minutes(30);
  absl::Duration replica_timeout = absl::Seconds(30);
};

struct PreparedReplica {
  std::unique_ptr<etcd::Client> client;
  replication::ClusterKeys keys{""};
  std::string cluster_id;
  // A peer's store was copied into the data directory.
  bool copied = false;
  // The cluster's transparency log signing key (step 3).
  std::optional<transparency::Ed25519PrivateKey> log_key;
  // Where it came from, for the start-up log line.
  std::string log_key_source;
};

// Steps 1-4 above. `given` is the definition from --definition or the
// embedded default (used when the store has none); `log_key` the key of
// --log_signing_key, if given.
absl::StatusOr<PreparedReplica> PrepareReplica(
    const ReplicationConfig& config, const std::string& data_dir,
    const v1::ElectionDefinition& given,
    const std::optional<transparency::Ed25519PrivateKey>& log_key);

}  // namespace tally::aggregator

#endif  // TALLY_SERVICES_AGGREGATOR_REPLICA_SETUP_H_
