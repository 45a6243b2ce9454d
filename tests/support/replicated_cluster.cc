#include "tests/support/replicated_cluster.h"

#include <signal.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "services/rpc/channel.h"
#include "tests/support/ingest_session.h"

namespace tally::testing {

absl::StatusOr<std::unique_ptr<ReplicatedCluster>> ReplicatedCluster::Start(
    ReplicatedClusterOptions options) {
  std::unique_ptr<ReplicatedCluster> cluster(
      new ReplicatedCluster(std::move(options)));
  process::EtcdClusterOptions etcd;
  etcd.members = cluster->options_.etcd_members;
  etcd.listen_host = cluster->options_.etcd_listen_host;
  etcd.dir = cluster->options_.dir + "/etcd";
  std::filesystem::create_directories(etcd.dir);
  absl::StatusOr<std::unique_ptr<process::EtcdCluster>> started =
      process::EtcdCluster::Start(etcd);
  if (!started.ok()) return started.status();
  cluster->etcd_ = *std::move(started);
  for (int i = 0; i < cluster->options_.replicas; ++i) {
    Replica replica;
    replica.id = absl::StrCat("r", i);
    absl::StatusOr<int> port = process::FreeLoopbackPort();
    if (!port.ok()) return port.status();
    replica.address = absl::StrCat("127.0.0.1:", *port);
    replica.data_dir = absl::StrCat(cluster->options_.dir, "/", replica.id);
    replica.stub = v1::Aggregator::NewStub(rpc::MakeChannel(replica.address));
    cluster->replicas_.push_back(std::move(replica));
  }
  const int start = cluster->options_.start_replicas < 0
                        ? cluster->size()
                        : cluster->options_.start_replicas;
  for (int i = 0; i < start; ++i) {
    if (absl::Status s = cluster->StartReplica(i); !s.ok()) return s;
  }
  return cluster;
}

ReplicatedCluster::~ReplicatedCluster() {
  for (Replica& replica : replicas_) {
    if (replica.process.pid() > 0 && replica.process.running()) {
      replica.process.Signal(SIGCONT);
      replica.process.Signal(SIGKILL);
      replica.process.Wait(absl::Seconds(10)).IgnoreError();
    }
  }
}

std::string ReplicatedCluster::addresses() const {
  std::vector<std::string> out;
  for (const Replica& replica : replicas_) out.push_back(replica.address);
  return absl::StrJoin(out, ",");
}

absl::Status ReplicatedCluster::StartReplica(
    int i, const std::vector<std::string>& wrapper) {
  Replica& replica = replicas_[i];
  std::vector<std::string> argv = replica.wrapper;
  argv.insert(argv.end(), wrapper.begin(), wrapper.end());
  argv.insert(argv.end(),
              {options_.aggregator_binary, "--data_dir", replica.data_dir,
               "--listen", replica.address, "--insecure", "--etcd_endpoints",
               replica.etcd_endpoints.empty() ? etcd_->endpoints()
                                              : replica.etcd_endpoints,
               "--replica_id", replica.id, "--advertise", replica.address});
  argv.insert(argv.end(), options_.extra_args.begin(),
              options_.extra_args.end());
  const std::string log_path = absl::StrCat(options_.dir, "/", replica.id, ".",
                                            ++replica.starts, ".log");
  absl::StatusOr<Process> process = Process::Start(argv, log_path);
  if (!process.ok()) return process.status();
  replica.process = *std::move(process);
  absl::StatusOr<std::string> serving =
      replica.process.WaitServing(absl::Minutes(3));
  if (!serving.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "replica ", replica.id, " did not start: ", serving.status().message(),
        "\n", replica.process.log()));
  }
  return absl::OkStatus();
}

void ReplicatedCluster::PlaceReplica(int i, const std::string& address,
                                     const std::string& etcd_endpoints,
                                     std::vector<std::string> wrapper) {
  Replica& replica = replicas_[i];
  replica.address = address;
  replica.etcd_endpoints = etcd_endpoints;
  replica.wrapper = std::move(wrapper);
  replica.stub = v1::Aggregator::NewStub(rpc::MakeChannel(address));
}

void ReplicatedCluster::Kill(int i) {
  Process& process = replicas_[i].process;
  process.Signal(SIGCONT);
  process.Signal(SIGKILL);
  process.Wait(absl::Seconds(30)).IgnoreError();
}

namespace {

// True once every thread of `pid` is in the stopped state ('T' in
// /proc/PID/task/TID/stat). kill(SIGSTOP) returns before the threads
// stop; a test that sends to a "paused" replica right after Pause must
// not race a thread that still runs.
bool AllThreadsStopped(pid_t pid) {
  std::error_code ec;
  std::filesystem::directory_iterator tasks(
      absl::StrCat("/proc/", pid, "/task"), ec);
  if (ec) return false;
  for (const std::filesystem::directory_entry& task : tasks) {
    std::ifstream stat(task.path() / "stat");
    std::string line;
    if (!std::getline(stat, line)) continue;  // the thread just exited
    // "TID (COMM) STATE ...": COMM may hold spaces and parentheses.
    const size_t close = line.rfind(')');
    if (close == std::string::npos || close + 2 >= line.size()) return false;
    const char state = line[close + 2];
    if (state != 'T' && state != 't') return false;
  }
  return true;
}

}  // namespace

absl::Status ReplicatedCluster::Pause(int i) {
  Process& process = replicas_[i].process;
  process.Signal(SIGSTOP);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (!AllThreadsStopped(process.pid())) {
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("replica ", replicas_[i].id, " (pid ", process.pid(),
                       "): not every thread stopped 10 s after SIGSTOP"));
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return absl::OkStatus();
}
void ReplicatedCluster::Resume(int i) { replicas_[i].process.Signal(SIGCONT); }

absl::Status ReplicatedCluster::Stop(int i) {
  Process& process = replicas_[i].process;
  process.Signal(SIGTERM);
  absl::StatusOr<int> code = process.Wait(absl::Minutes(1));
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::InternalError(
        absl::StrCat("replica ", replicas_[i].id, " exited with ", *code));
  }
  return absl::OkStatus();
}

void ReplicatedCluster::Wipe(int i) {
  std::error_code ec;
  std::filesystem::remove_all(replicas_[i].data_dir, ec);
}

bool ReplicatedCluster::running(int i) {
  return replicas_[i].process.pid() > 0 && replicas_[i].process.running();
}

std::string ReplicatedCluster::log(int i) const {
  return replicas_[i].process.log();
}

absl::StatusOr<v1::ReplicaStatus> ReplicatedCluster::Status(
    int i, absl::Duration timeout) {
  v1::ReplicaStatus status;
  grpc::Status rpc = replicas_[i].stub->GetReplicaStatus(
      DeadlineContext(timeout).get(), v1::GetReplicaStatusRequest(), &status);
  if (!rpc.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(rpc.error_code()),
                        rpc.error_message());
  }
  return status;
}

absl::StatusOr<int> ReplicatedCluster::WaitForLeader(absl::Duration timeout,
                                                     int not_this) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    for (int i = 0; i < size(); ++i) {
      if (i == not_this || !running(i)) continue;
      absl::StatusOr<v1::ReplicaStatus> status =
          Status(i, absl::Milliseconds(500));
      if (status.ok() && status->role() == v1::ReplicaStatus::LEADER) return i;
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError("no replica became the leader");
}

absl::StatusOr<uint64_t> ReplicatedCluster::WaitConverged(
    absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last;
  while (absl::Now() < deadline) {
    bool same = true;
    uint64_t revision = 0;
    bool first = true;
    last.clear();
    for (int i = 0; i < size(); ++i) {
      if (!running(i)) continue;
      absl::StatusOr<v1::ReplicaStatus> status = Status(i);
      if (!status.ok()) {
        same = false;
        absl::StrAppend(&last, replicas_[i].id, ": ", status.status().message(),
                        "; ");
        break;
      }
      absl::StrAppend(&last, replicas_[i].id, " at ",
                      status->applied_revision(), "; ");
      if (first) {
        revision = status->applied_revision();
        first = false;
      } else if (status->applied_revision() != revision) {
        same = false;
      }
    }
    if (same && !first) return revision;
    absl::SleepFor(absl::Milliseconds(100));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("replicas did not converge: ", last));
}

}  // namespace tally::testing
