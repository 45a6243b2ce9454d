// The replication scenario (docs/PERFORMANCE.md, "Replication"): the same
// ingest load against a single aggregator and against the leader of 3
// replicas on a 3-member etcd cluster, in the same run; then leader kills
// during a paced night, timing each failover from the kill to the first
// acknowledgement after it.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "clients/bench/child_process.h"
#include "clients/bench/failover_load.h"
#include "clients/bench/ingest_load.h"
#include "clients/bench/metrics_scrape.h"
#include "clients/bench/scenarios.h"
#include "clients/bench/wire.h"
#include "clients/process/etcd_cluster.h"
#include "tally/v1/aggregator.grpc.pb.h"

namespace tally::bench {
namespace {

constexpr absl::Duration kStartTimeout = absl::Minutes(5);

void Say(const std::string& text) {
  fprintf(
      stderr, "[bench %s] %s\n",
      absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(),
      text.c_str());
}

// Three replicas on an etcd cluster, each on a port of its own.
class Replicas {
 public:
  static absl::StatusOr<std::unique_ptr<Replicas>> Start(
      const BenchConfig& config, const std::string& dir,
      const std::string& definition_path) {
    auto replicas = std::unique_ptr<Replicas>(new Replicas());
    replicas->config_ = &config;
    replicas->dir_ = dir;
    replicas->definition_path_ = definition_path;
    process::EtcdClusterOptions etcd;
    etcd.dir = dir + "/etcd";
    std::filesystem::create_directories(etcd.dir);
    absl::StatusOr<std::unique_ptr<process::EtcdCluster>> cluster =
        process::EtcdCluster::Start(etcd);
    if (!cluster.ok()) return cluster.status();
    replicas->etcd_ = *std::move(cluster);
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<int> port = process::FreeLoopbackPort();
      if (!port.ok()) return port.status();
      replicas->addresses_.push_back(absl::StrCat("127.0.0.1:", *port));
      replicas->servers_.emplace_back();
      if (absl::Status s = replicas->StartOne(i); !s.ok()) return s;
    }
    return replicas;
  }

  absl::Status StartOne(int i) {
    std::vector<std::string> argv = {
        config_->aggregator_bin,
        "--data_dir=" + dir_ + "/r" + std::to_string(i),
        "--listen=" + addresses_[i],
        "--advertise=" + addresses_[i],
        "--admin_listen=127.0.0.1:0",
        "--insecure",
        "--etcd_endpoints=" + etcd_->endpoints(),
        "--replica_id=r" + std::to_string(i)};
    if (!definition_path_.empty()) {
      argv.push_back("--definition=" + definition_path_);
    }
    argv.insert(argv.end(), config_->aggregator_flags.begin(),
                config_->aggregator_flags.end());
    absl::StatusOr<Server> server =
        StartServer(argv, absl::StrCat(dir_, "/r", i, ".", ++starts_, ".log"),
                    kStartTimeout, true);
    if (!server.ok()) return server.status();
    servers_[i] = *std::move(server);
    return absl::OkStatus();
  }

  std::optional<v1::ReplicaStatus> Status(int i) {
    auto stub = v1::Aggregator::NewStub(OwnChannel(addresses_[i]));
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    v1::ReplicaStatus status;
    if (!stub->GetReplicaStatus(&context, v1::GetReplicaStatusRequest(),
                                &status)
             .ok()) {
      return std::nullopt;
    }
    return status;
  }

  // The leader's index, waiting up to `timeout`; -1 if none.
  int Leader(absl::Duration timeout, int not_this = -1) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      for (int i = 0; i < 3; ++i) {
        if (i == not_this) continue;
        std::optional<v1::ReplicaStatus> status = Status(i);
        if (status && status->role() == v1::ReplicaStatus::LEADER) return i;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return -1;
  }

  // Waits until every replica reports the same applied revision; the
  // time it took.
  absl::Duration Converge(absl::Duration timeout) {
    const absl::Time began = absl::Now();
    while (absl::Now() - began < timeout) {
      std::optional<uint64_t> revision;
      bool same = true;
      for (int i = 0; i < 3 && same; ++i) {
        std::optional<v1::ReplicaStatus> status = Status(i);
        if (!status) {
          same = false;
        } else if (!revision) {
          revision = status->applied_revision();
        } else if (*revision != status->applied_revision()) {
          same = false;
        }
      }
      if (same) return absl::Now() - began;
      absl::SleepFor(absl::Milliseconds(20));
    }
    return absl::InfiniteDuration();
  }

  void Kill(int i) {
    servers_[i].process.Signal(SIGKILL);
    servers_[i].process.Wait(absl::Seconds(30)).IgnoreError();
  }
  Server& server(int i) { return servers_[i]; }
  const std::vector<std::string>& addresses() const { return addresses_; }
  process::EtcdCluster& etcd() { return *etcd_; }
  ~Replicas() {
    for (Server& server : servers_) server.process.Stop(absl::Seconds(10));
  }

 private:
  Replicas() = default;
  const BenchConfig* config_ = nullptr;
  std::string dir_;
  std::string definition_path_;
  int starts_ = 0;
  std::unique_ptr<process::EtcdCluster> etcd_;
  std::vector<std::string> addresses_;
  std::vector<Server> servers_;
};

double Percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t at = static_cast<size_t>(p / 100 * (values.size() - 1) + 0.5);
  return values[std::min(at, values.size() - 1)];
}

double SumCpu(const std::vector<int>& pids) {
  double total = 0;
  for (int pid : pids) total += ProcessCpuSeconds(pid);
  return total;
}

}  // namespace

void RunReplicationScenario(const BenchConfig& config, const Workload& workload,
                            Report& report) {
  const auto slices = TakeEvenly(workload, config.ingest_protocols);
  IngestOptions options;
  options.streams = config.replication_streams;
  options.batch = config.replication_batch;
  options.window = std::clamp<uint32_t>(
      config.window / std::max<uint32_t>(options.batch, 1), 1, 64);
  options.max_time = absl::Seconds(config.ingest_max_seconds);

  // 1. A single aggregator, same load.
  {
    Say("replication: single node");
    const std::string dir =
        absl::StrCat(config.work_dir, "/replication-single");
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    std::vector<std::string> argv = {
        config.aggregator_bin, "--data_dir=" + dir + "/db",
        "--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0", "--insecure"};
    if (!workload.definition_path.empty()) {
      argv.push_back("--definition=" + workload.definition_path);
    }
    absl::StatusOr<Server> single =
        StartServer(argv, dir + "/aggregator.log", kStartTimeout, true);
    if (!single.ok()) {
      report.AddError(
          absl::StrCat("replication single node: ", single.status().message()));
      return;
    }
    options.address = single->address;
    const double cpu_before = ProcessCpuSeconds(single->process.pid());
    const double bench_cpu_before = ProcessCpuSeconds(getpid());
    IngestResult result = RunIngest(options, workload.region_ids, slices);
    const double cpu = ProcessCpuSeconds(single->process.pid()) - cpu_before;
    const double bench_cpu = ProcessCpuSeconds(getpid()) - bench_cpu_before;
    Row row{"replication", "single-node", {}};
    row.Set("streams", int64_t{options.streams})
        .Set("batch", int64_t{options.batch})
        .Set("protocols", static_cast<int64_t>(result.acked))
        .Set("seconds", result.seconds)
        .Set("protocols_per_second",
             result.seconds > 0 ? result.acked / result.seconds : 0.0)
        .Set("ack_p50_ms", result.ack_latency.PercentileMs(50))
        .Set("ack_p99_ms", result.ack_latency.PercentileMs(99))
        .Set("cpu_seconds", cpu)
        .Set("driver_cpu_seconds", bench_cpu)
        .Set("errors", static_cast<int64_t>(result.errors.size()));
    for (const std::string& error : result.errors) {
      report.AddError("replication single node: " + error);
    }
    report.Add(std::move(row));
    single->process.Stop(absl::Seconds(30));
    if (!config.keep) std::filesystem::remove_all(dir);
  }

  // 2. Three replicas on three etcd members, same load on the leader.
  const std::string dir = absl::StrCat(config.work_dir, "/replication-ha");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  Say("replication: 3 etcd members, 3 replicas");
  absl::StatusOr<std::unique_ptr<Replicas>> replicas =
      Replicas::Start(config, dir, workload.definition_path);
  if (!replicas.ok()) {
    report.AddError(absl::StrCat("replication: ", replicas.status().message()));
    return;
  }
  Replicas& ha = **replicas;
  int leader = ha.Leader(absl::Minutes(1));
  if (leader < 0) {
    report.AddError("replication: no leader elected");
    return;
  }
  {
    std::vector<int> pids;
    for (int i = 0; i < 3; ++i) pids.push_back(ha.server(i).process.pid());
    std::vector<int> etcd_pids;
    for (int i = 0; i < ha.etcd().size(); ++i) {
      etcd_pids.push_back(ha.etcd().pid(i));
    }
    const double cpu_before = SumCpu(pids);
    const double etcd_cpu_before = SumCpu(etcd_pids);
    const double bench_cpu_before = ProcessCpuSeconds(getpid());
    options.address = ha.addresses()[leader];
    options.collector_prefix = "ha";
    IngestResult result = RunIngest(options, workload.region_ids, slices);
    const absl::Duration converge = ha.Converge(absl::Minutes(2));
    const double cpu = SumCpu(pids) - cpu_before;
    // Where the two cores went: the replicas, the etcd members and this
    // driver (its client threads).
    const double etcd_cpu = SumCpu(etcd_pids) - etcd_cpu_before;
    const double bench_cpu = ProcessCpuSeconds(getpid()) - bench_cpu_before;
    Row row{"replication", "3-replicas-3-etcd", {}};
    row.Set("streams", int64_t{options.streams})
        .Set("batch", int64_t{options.batch})
        .Set("protocols", static_cast<int64_t>(result.acked))
        .Set("seconds", result.seconds)
        .Set("protocols_per_second",
             result.seconds > 0 ? result.acked / result.seconds : 0.0)
        .Set("ack_p50_ms", result.ack_latency.PercentileMs(50))
        .Set("ack_p99_ms", result.ack_latency.PercentileMs(99))
        .Set("followers_converged_ms", absl::ToDoubleMilliseconds(converge))
        .Set("replicas_cpu_seconds", cpu)
        .Set("etcd_cpu_seconds", etcd_cpu)
        .Set("driver_cpu_seconds", bench_cpu)
        .Set("errors", static_cast<int64_t>(result.errors.size()));
    for (const std::string& error : result.errors) {
      report.AddError("replication ha: " + error);
    }
    const auto metrics = ScrapeMetrics(ha.server(leader).admin);
    auto written = metrics.find("tally_replication_rounds_written_total");
    if (written != metrics.end() && written->second > 0) {
      row.Set("log_rounds", static_cast<int64_t>(written->second))
          .Set("protocols_per_round", result.acked / written->second);
      auto bytes = metrics.find("tally_replication_round_bytes_written_total");
      if (bytes != metrics.end()) {
        // Every member writes each round to its WAL and its bbolt file.
        row.Set("round_kib", bytes->second / written->second / 1024)
            .Set("log_mib_per_second",
                 result.seconds > 0 ? bytes->second / (1 << 20) / result.seconds
                                    : 0.0);
      }
    }
    report.Add(std::move(row));
  }

  // 3. Failover: a paced night through every region, the leader killed
  // `failover_kills` times; each time from the kill to the next
  // acknowledgement.
  Say(absl::StrCat("replication: ", config.failover_kills, " leader kills"));
  const auto night = TakeEvenly(workload, config.failover_protocols);
  FailoverLoadOptions load_options;
  load_options.replicas = ha.addresses();
  load_options.rate = config.failover_rate;
  FailoverLoad load(load_options, workload.region_ids, night);
  load.Start();
  std::vector<double> failovers;
  int kills = 0;
  for (int k = 0; k < config.failover_kills; ++k) {
    absl::SleepFor(absl::Seconds(config.failover_interval_seconds));
    leader = ha.Leader(absl::Seconds(30));
    if (leader < 0) {
      report.AddError("replication: no leader before a kill");
      break;
    }
    const absl::Time killed = absl::Now();
    ha.Kill(leader);
    ++kills;
    // Back to three replicas (it resumes from its store).
    if (absl::Status s = ha.StartOne(leader); !s.ok()) {
      report.AddError(absl::StrCat("replication: restart: ", s.message()));
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    absl::Time first = absl::InfiniteFuture();
    while (absl::Now() < deadline &&
           (first = load.FirstAckAfter(killed)) == absl::InfiniteFuture()) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    const double seconds = absl::ToDoubleSeconds(first - killed);
    failovers.push_back(seconds);
    Say(absl::StrFormat("kill %d of r%d: first acknowledgement %.2f s later",
                        k + 1, leader, seconds));
  }
  load.Stop();
  Row row{"failover", "3-replicas-3-etcd", {}};
  row.Set("kills", int64_t{kills})
      .Set("failover_p50_s", Percentile(failovers, 50))
      .Set("failover_max_s",
           failovers.empty()
               ? 0.0
               : *std::max_element(failovers.begin(), failovers.end()))
      .Set("acknowledged", static_cast<int64_t>(load.acked()))
      .Set("reconnects", static_cast<int64_t>(load.reconnects()));
  const absl::Duration converge = ha.Converge(absl::Minutes(2));
  row.Set("converged", converge != absl::InfiniteDuration());
  report.Add(std::move(row));
  replicas->reset();
  if (!config.keep) std::filesystem::remove_all(dir);
}

}  // namespace tally::bench
