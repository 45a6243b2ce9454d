// A real etcd cluster (Debian's etcd-server) on 127.0.0.1 for the tests,
// the benchmark and local tools: N members in their own data directories,
// tuned as a tally deployment runs them (bounded raft log in memory, no
// automatic compaction: replication compacts after truncating its log).
// Members can be killed, paused and restarted to exercise failures.
#ifndef TALLY_CLIENTS_PROCESS_ETCD_CLUSTER_H_
#define TALLY_CLIENTS_PROCESS_ETCD_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "clients/process/child_process.h"

namespace tally::process {

struct EtcdClusterOptions {
  int members = 3;
  std::string binary = "/usr/bin/etcd";
  // Parent of the members' data directories and logs.
  std::string dir;
  // Raft timing (ms). The defaults keep an etcd failover near one second.
  int heartbeat_ms = 100;
  int election_ms = 1000;
  int snapshot_count = 2000;
  uint64_t quota_backend_bytes = 2ull << 30;
  // Client URLs listen here (0.0.0.0: also on other interfaces, for
  // replicas in network namespaces); they are advertised on 127.0.0.1.
  std::string listen_host = "127.0.0.1";
};

class EtcdCluster {
 public:
  // Starts every member and waits until each serves clients.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      EtcdClusterOptions options, absl::Duration timeout = absl::Seconds(60));
  ~EtcdCluster();  // kills every member

  // "127.0.0.1:P0,127.0.0.1:P1,..." for --etcd_endpoints.
  std::string endpoints() const;
  std::string client_address(int member) const;
  int client_port(int member) const { return members_[member].client_port; }
  int size() const { return static_cast<int>(members_.size()); }

  void Kill(int member);    // SIGKILL
  void Pause(int member);   // SIGSTOP
  void Resume(int member);  // SIGCONT
  // Starts a killed member again on its data directory and ports.
  absl::Status Restart(int member, absl::Duration timeout = absl::Seconds(30));
  bool running(int member);
  // The member's process id (0 while it is not running).
  int pid(int member) const;
  std::string log(int member) const;

 private:
  struct Member {
    std::string name;
    int client_port = 0;
    int peer_port = 0;
    std::string data_dir;
    std::string log_path;
    int starts = 0;
    ChildProcess process;
  };
  explicit EtcdCluster(EtcdClusterOptions options)
      : options_(std::move(options)) {}
  absl::Status StartMember(int member, bool existing);

  EtcdClusterOptions options_;
  std::string initial_cluster_;
  std::vector<Member> members_;
};

// A TCP port on 127.0.0.1 that nothing listens on right now (bound and
// released; a program started soon after can take it).
absl::StatusOr<int> FreeLoopbackPort();

}  // namespace tally::process

#endif  // TALLY_CLIENTS_PROCESS_ETCD_CLUSTER_H_
