// A replicated aggregator deployment for tests: a real etcd cluster and N
// real tally-aggregator replicas on 127.0.0.1 (each on a port of its own
// that it keeps across restarts, advertised to the others), with the
// failures the tests inflict: SIGKILL, SIGSTOP/SIGCONT, a wiped disk, a
// restart.
#ifndef TALLY_TESTS_SUPPORT_REPLICATED_CLUSTER_H_
#define TALLY_TESTS_SUPPORT_REPLICATED_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/process/etcd_cluster.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tests/support/process.h"

namespace tally::testing {

struct ReplicatedClusterOptions {
  std::string aggregator_binary;
  // Parent of etcd's and the replicas' directories and logs.
  std::string dir;
  int etcd_members = 3;
  int replicas = 3;
  // More flags for every replica (e.g. shorter maintenance intervals).
  std::vector<std::string> extra_args;
  // Started replicas (a test may start the others later).
  int start_replicas = -1;  // -1: all
  // etcd's client URLs listen here (see EtcdClusterOptions).
  std::string etcd_listen_host = "127.0.0.1";
};

class ReplicatedCluster {
 public:
  static absl::StatusOr<std::unique_ptr<ReplicatedCluster>> Start(
      ReplicatedClusterOptions options);
  ~ReplicatedCluster();

  process::EtcdCluster& etcd() { return *etcd_; }
  int size() const { return static_cast<int>(replicas_.size()); }
  // "HOST:PORT,HOST:PORT,..." of every replica (for --aggregator lists).
  std::string addresses() const;
  const std::string& address(int replica) const {
    return replicas_[replica].address;
  }
  const std::string& data_dir(int replica) const {
    return replicas_[replica].data_dir;
  }
  v1::Aggregator::Stub& stub(int replica) { return *replicas_[replica].stub; }

  // Starts replica `i` (again) and waits for its serving line. `wrapper`
  // runs it under another program (e.g. {"/usr/bin/faketime", "+2h"}).
  absl::Status StartReplica(int i,
                            const std::vector<std::string>& wrapper = {});
  void Kill(int i);  // SIGKILL, reaped
  // SIGSTOP; returns once every thread has stopped (an error after 10 s).
  absl::Status Pause(int i);
  void Resume(int i);  // SIGCONT
  // SIGTERM and wait.
  absl::Status Stop(int i);
  void Wipe(int i);  // removes its data directory (after Kill)
  bool running(int i);
  std::string log(int i) const;

  // Runs replica `i` elsewhere than 127.0.0.1: `address` (listen and
  // advertise) and the etcd endpoints as that host reaches them, under
  // `wrapper` (e.g. {"/usr/sbin/ip", "netns", "exec", NAME}). Takes effect
  // at its next start.
  void PlaceReplica(int i, const std::string& address,
                    const std::string& etcd_endpoints,
                    std::vector<std::string> wrapper);

  absl::StatusOr<v1::ReplicaStatus> Status(
      int i, absl::Duration timeout = absl::Seconds(5));
  // Waits until a running replica reports LEADER (not `not_this` one);
  // returns its index.
  absl::StatusOr<int> WaitForLeader(absl::Duration timeout, int not_this = -1);
  // Waits until every running replica reports the same applied revision,
  // and returns it.
  absl::StatusOr<uint64_t> WaitConverged(absl::Duration timeout);

 private:
  struct Replica {
    std::string id;
    std::string address;
    std::string data_dir;
    int starts = 0;
    std::string etcd_endpoints;  // empty: the cluster's loopback endpoints
    std::vector<std::string> wrapper;
    Process process;
    std::unique_ptr<v1::Aggregator::Stub> stub;
  };
  explicit ReplicatedCluster(ReplicatedClusterOptions options)
      : options_(std::move(options)) {}

  ReplicatedClusterOptions options_;
  std::unique_ptr<process::EtcdCluster> etcd_;
  std::vector<Replica> replicas_;
};

}  // namespace tally::testing

#endif  // TALLY_TESTS_SUPPORT_REPLICATED_CLUSTER_H_
