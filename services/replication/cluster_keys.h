// The etcd keys of one replicated aggregator cluster, all under one prefix
// (--etcd_prefix, then the election id), so that several elections or
// deployments can share an etcd cluster:
//
//   PREFIX/cluster_id          random id, created once; every replica's
//                              store is bound to it
//   PREFIX/definition_digest   SHA-256 of the election definition; every
//                              replica must run the same one
//   PREFIX/leader/<lease>      the election (etcd's election recipe); the
//                              oldest key is the leader, its create
//                              revision the fencing epoch
//   PREFIX/log/<index>         the commit log: one ReplicatedRound per key,
//   index
//                              zero-padded to 20 digits so key order is
//                              index order
//   PREFIX/log_start           first index still in the log (written with
//                              each truncation)
//   PREFIX/replicas/<id>       each replica's ReplicaRecord
//   PREFIX/log_public_key      the transparency log's Ed25519 public key
//                              (32 bytes): every replica signs with it
//   PREFIX/log_signing_key     the log's private key (PKCS#8 PEM), only
//                              when the replicas were started without
//                              --log_signing_key (then the first made it)
#ifndef TALLY_SERVICES_REPLICATION_CLUSTER_KEYS_H_
#define TALLY_SERVICES_REPLICATION_CLUSTER_KEYS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace tally::replication {

class ClusterKeys {
 public:
  // `prefix` ends with '/' (added when missing).
  explicit ClusterKeys(absl::string_view prefix);

  const std::string& prefix() const { return prefix_; }
  std::string cluster_id() const { return prefix_ + "cluster_id"; }
  std::string definition_digest() const {
    return prefix_ + "definition_digest";
  }
  std::string election() const { return prefix_ + "leader"; }
  std::string log_prefix() const { return prefix_ + "log/"; }
  std::string log_start() const { return prefix_ + "log_start"; }
  std::string LogKey(uint64_t index) const;
  // The index of a key of the log; InvalidArgument for any other key.
  absl::StatusOr<uint64_t> ParseLogKey(absl::string_view key) const;
  std::string replicas_prefix() const { return prefix_ + "replicas/"; }
  std::string log_public_key() const { return prefix_ + "log_public_key"; }
  std::string log_signing_key() const { return prefix_ + "log_signing_key"; }
  std::string ReplicaKey(absl::string_view replica_id) const;

 private:
  std::string prefix_;
};

}  // namespace tally::replication

#endif  // TALLY_SERVICES_REPLICATION_CLUSTER_KEYS_H_
