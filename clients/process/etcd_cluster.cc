#include "clients/process/etcd_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tally::process {

absl::StatusOr<int> FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    close(fd);
    return absl::InternalError("cannot bind a loopback port");
  }
  close(fd);
  return ntohs(address.sin_port);
}

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(
    EtcdClusterOptions options, absl::Duration timeout) {
  if (options.members < 1 || options.dir.empty()) {
    return absl::InvalidArgumentError(
        "an etcd cluster needs members and a dir");
  }
  if (access(options.binary.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(options.binary, " not found: install etcd-server"));
  }
  std::unique_ptr<EtcdCluster> cluster(new EtcdCluster(std::move(options)));
  std::vector<std::string> peers;
  for (int i = 0; i < cluster->options_.members; ++i) {
    Member member;
    member.name = absl::StrCat("etcd", i);
    absl::StatusOr<int> client = FreeLoopbackPort();
    absl::StatusOr<int> peer = FreeLoopbackPort();
    if (!client.ok()) return client.status();
    if (!peer.ok()) return peer.status();
    member.client_port = *client;
    member.peer_port = *peer;
    member.data_dir = absl::StrCat(cluster->options_.dir, "/", member.name);
    peers.push_back(absl::StrCat(member.name, "=http://127.0.0.1:", *peer));
    cluster->members_.push_back(std::move(member));
  }
  cluster->initial_cluster_ = absl::StrJoin(peers, ",");
  for (int i = 0; i < cluster->size(); ++i) {
    if (absl::Status s = cluster->StartMember(i, false); !s.ok()) return s;
  }
  for (int i = 0; i < cluster->size(); ++i) {
    absl::StatusOr<std::string> ready =
        cluster->members_[i].process.WaitFor("serving client traffic", timeout);
    if (!ready.ok()) {
      return absl::UnavailableError(
          absl::StrCat("etcd member ", i, " did not become ready: ",
                       ready.status().message(), "\n", cluster->log(i)));
    }
  }
  return cluster;
}

absl::Status EtcdCluster::StartMember(int index, bool existing) {
  Member& member = members_[index];
  const std::string client_url =
      absl::StrCat("http://127.0.0.1:", member.client_port);
  const std::string peer_url =
      absl::StrCat("http://127.0.0.1:", member.peer_port);
  member.log_path = absl::StrCat(options_.dir, "/", member.name, ".",
                                 ++member.starts, ".log");
  std::vector<std::string> argv = {
      options_.binary,
      "--name",
      member.name,
      "--data-dir",
      member.data_dir,
      "--listen-client-urls",
      absl::StrCat("http://", options_.listen_host, ":", member.client_port),
      "--advertise-client-urls",
      client_url,
      "--listen-peer-urls",
      peer_url,
      "--initial-advertise-peer-urls",
      peer_url,
      "--initial-cluster",
      initial_cluster_,
      "--initial-cluster-state",
      existing ? "existing" : "new",
      "--initial-cluster-token",
      absl::StrCat("tally-", getpid()),
      "--heartbeat-interval",
      absl::StrCat(options_.heartbeat_ms),
      "--election-timeout",
      absl::StrCat(options_.election_ms),
      "--snapshot-count",
      absl::StrCat(options_.snapshot_count),
      "--quota-backend-bytes",
      absl::StrCat(options_.quota_backend_bytes),
      "--auto-compaction-retention",
      "0",
      "--logger",
      "zap",
      "--log-outputs",
      "stderr"};
  absl::StatusOr<ChildProcess> process =
      ChildProcess::Start(argv, member.log_path);
  if (!process.ok()) return process.status();
  member.process = *std::move(process);
  return absl::OkStatus();
}

EtcdCluster::~EtcdCluster() {
  for (Member& member : members_) {
    if (member.process.pid() > 0 && member.process.running()) {
      member.process.Signal(SIGCONT);
      member.process.Signal(SIGKILL);
      member.process.Wait(absl::Seconds(10)).IgnoreError();
    }
  }
}

std::string EtcdCluster::client_address(int member) const {
  return absl::StrCat("127.0.0.1:", members_[member].client_port);
}

std::string EtcdCluster::endpoints() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(client_address(i));
  return absl::StrJoin(out, ",");
}

void EtcdCluster::Kill(int member) {
  ChildProcess& process = members_[member].process;
  process.Signal(SIGCONT);
  process.Signal(SIGKILL);
  process.Wait(absl::Seconds(10)).IgnoreError();
}

void EtcdCluster::Pause(int member) {
  members_[member].process.Signal(SIGSTOP);
}

void EtcdCluster::Resume(int member) {
  members_[member].process.Signal(SIGCONT);
}

absl::Status EtcdCluster::Restart(int member, absl::Duration timeout) {
  if (running(member)) Kill(member);
  if (absl::Status s = StartMember(member, true); !s.ok()) return s;
  absl::StatusOr<std::string> ready =
      members_[member].process.WaitFor("serving client traffic", timeout);
  if (!ready.ok()) {
    return absl::UnavailableError(
        absl::StrCat("restarted etcd member ", member,
                     " did not become ready: ", ready.status().message()));
  }
  return absl::OkStatus();
}

bool EtcdCluster::running(int member) {
  return members_[member].process.pid() > 0 &&
         members_[member].process.running();
}

int EtcdCluster::pid(int member) const {
  return static_cast<int>(members_[member].process.pid());
}

std::string EtcdCluster::log(int member) const {
  return members_[member].process.log();
}

}  // namespace tally::process
