#include "clients/bench/scenarios.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "clients/bench/child_process.h"
#include "clients/bench/feed_load.h"
#include "clients/bench/ingest_load.h"
#include "clients/bench/metrics_scrape.h"
#include "clients/bench/pg_peer.h"
#include "clients/bench/wire.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/impl/codegen/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "httplib.h"
#include "tally/v1/aggregator.grpc.pb.h"
#include "tally/v1/collector.grpc.pb.h"
#include "tally/v1/feed.grpc.pb.h"

namespace tally::bench {

// A stream keeps about `window` protocols unacknowledged, as whole batches:
// 4 batches of 256, 64 of 16 or of 1 (the aggregator reads at most
// --max_inflight_batches, 64 by default, of a stream ahead of the
// committer; a collector's forwarder keeps 4 batches of up to 512).
uint32_t BatchesInFlight(uint32_t window, uint32_t batch) {
  return std::clamp<uint32_t>(window / std::max<uint32_t>(batch, 1), 1, 64);
}

namespace {
constexpr absl::Duration kStartTimeout = absl::Minutes(10);
}  // namespace

double Rate(uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

// What an ingest run acknowledged and how fast, for any scenario that
// ingests through RunIngest.
void AddIngestFigures(Row& row, IngestResult& result) {
  row.Set("protocols", static_cast<int64_t>(result.acked))
      .Set("accepted", static_cast<int64_t>(result.accepted))
      .Set("seconds", result.seconds)
      .Set("protocols_per_second", Rate(result.acked, result.seconds))
      .Set("ack_p50_ms", result.ack_latency.PercentileMs(50))
      .Set("ack_p99_ms", result.ack_latency.PercentileMs(99));
}

IngestOptions IngestRunOptions(const BenchConfig& config,
                               const std::string& address, uint32_t streams,
                               uint32_t batch) {
  IngestOptions options;
  options.address = address;
  options.streams = streams;
  options.batch = batch;
  options.window = BatchesInFlight(config.window, options.batch);
  options.max_time = absl::Seconds(config.ingest_max_seconds);
  return options;
}

IngestResult IngestWholeNight(const BenchConfig& config,
                              const std::string& address,
                              const Workload& workload,
                              const std::string& collector_prefix) {
  std::vector<std::vector<const EncodedProtocol*>> slices(
      workload.by_region.size());
  for (size_t r = 0; r < slices.size(); ++r) {
    for (const EncodedProtocol& p : workload.by_region[r]) {
      slices[r].push_back(&p);
    }
  }
  IngestOptions options;
  options.address = address;
  options.streams = 16;
  options.batch = 256;
  options.window = BatchesInFlight(config.window, options.batch);
  options.max_time = absl::Hours(2);
  options.collector_prefix = collector_prefix;
  return RunIngest(options, workload.region_ids, slices);
}

void Progress(const std::string& text) {
  fprintf(
      stderr, "[bench %s] %s\n",
      absl::FormatTime("%H:%M:%S", absl::Now(), absl::UTCTimeZone()).c_str(),
      text.c_str());
}

std::string FreshDir(const BenchConfig& config, const std::string& name) {
  const std::string dir = absl::StrCat(config.work_dir, "/", name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

void RemoveDir(const BenchConfig& config, const std::string& dir) {
  if (config.keep) return;
  std::error_code error;
  std::filesystem::remove_all(dir, error);
}

absl::StatusOr<Server> StartAggregator(const BenchConfig& config,
                                       const std::string& dir,
                                       const std::string& definition_path,
                                       const std::string& log_name) {
  std::vector<std::string> argv = config.aggregator_prefix;
  argv.insert(argv.end(), {config.aggregator_bin, "--data_dir=" + dir + "/db",
                           "--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                           "--insecure"});
  argv.insert(argv.end(), config.aggregator_flags.begin(),
              config.aggregator_flags.end());
  if (!definition_path.empty()) {
    argv.push_back("--definition=" + definition_path);
  }
  return StartServer(argv, absl::StrCat(dir, "/", log_name), kStartTimeout,
                     true);
}

absl::Duration AggregatorStopGrace(const BenchConfig& config) {
  return config.aggregator_prefix.empty() ? absl::Seconds(30)
                                          : absl::Minutes(10);
}

namespace {

double Metric(const absl::flat_hash_map<std::string, double>& metrics,
              const std::string& name) {
  const auto it = metrics.find(name);
  return it == metrics.end() ? 0 : it->second;
}

// Commit-round figures between two scrapes of the aggregator.
void AddRoundFigures(Row& row,
                     const absl::flat_hash_map<std::string, double>& before,
                     const absl::flat_hash_map<std::string, double>& after) {
  const double rounds = Metric(after, "tally_commit_batch_protocols_count") -
                        Metric(before, "tally_commit_batch_protocols_count");
  const double protocols = Metric(after, "tally_commit_batch_protocols_sum") -
                           Metric(before, "tally_commit_batch_protocols_sum");
  const double seconds = Metric(after, "tally_commit_duration_seconds_sum") -
                         Metric(before, "tally_commit_duration_seconds_sum");
  row.Set("commit_rounds", static_cast<int64_t>(rounds));
  row.Set("protocols_per_round", rounds > 0 ? protocols / rounds : 0.0);
  row.Set("round_ms_mean", rounds > 0 ? seconds / rounds * 1000 : 0.0);
}

// GetResults for every contest and scope: the read a results page or a
// media feed makes; milliseconds.
double TimeGetResults(const std::string& address) {
  auto stub = v1::Aggregator::NewStub(OwnChannel(address));
  v1::GetResultsRequest request;
  request.set_all_scopes(true);
  double best = 1e9;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::GetResultsResponse response;
    const absl::Time began = absl::Now();
    if (!stub->GetResults(&context, request, &response).ok()) return -1;
    best = std::min(best, absl::ToDoubleMilliseconds(absl::Now() - began));
  }
  return best;
}

std::string ConfigName(uint32_t streams, uint32_t batch) {
  return absl::StrCat("s", streams, "-b", batch);
}

}  // namespace

void RunIngestScenario(const BenchConfig& config, const Workload& workload,
                       Report& report) {
  const auto slices = TakeEvenly(workload, config.ingest_protocols);
  uint64_t planned = 0;
  for (const auto& slice : slices) planned += slice.size();
  absl::flat_hash_map<std::string, double> tally_rate;
  for (const uint32_t streams : config.streams) {
    for (const uint32_t batch : config.batches) {
      const std::string name = ConfigName(streams, batch);
      Progress(
          absl::StrCat("ingest tally ", name, ": ", planned, " protocols"));
      const std::string dir = FreshDir(config, "ingest-" + name);
      absl::StatusOr<Server> aggregator = StartAggregator(
          config, dir, workload.definition_path, "aggregator.log");
      if (!aggregator.ok()) {
        report.AddError(
            absl::StrCat("ingest ", name, ": ", aggregator.status().message()));
        continue;
      }
      const auto before = ScrapeMetrics(aggregator->admin);
      const double cpu_before = ProcessCpuSeconds(aggregator->process.pid());
      IngestResult result = RunIngest(
          IngestRunOptions(config, aggregator->address, streams, batch),
          workload.region_ids, slices);
      const double cpu =
          ProcessCpuSeconds(aggregator->process.pid()) - cpu_before;
      const auto after = ScrapeMetrics(aggregator->admin);
      Row row{"ingest", "tally", {}};
      row.Set("streams", int64_t{streams}).Set("batch", int64_t{batch});
      AddIngestFigures(row, result);
      row.Set(
          "accepted_by_server",
          static_cast<int64_t>(Metric(
              after, "tally_ingest_protocols_total{outcome=\"accepted\"}")));
      AddRoundFigures(row, before, after);
      row.Set("server_cpu_seconds", cpu)
          .Set("server_cpu_us_per_protocol",
               result.acked > 0 ? cpu * 1e6 / static_cast<double>(result.acked)
                                : 0.0);
      if (streams == config.streams.back() && batch == config.batches.back()) {
        row.Set("read_all_scopes_ms", TimeGetResults(aggregator->address));
      }
      row.Set("errors", static_cast<int64_t>(result.errors.size()));
      for (const std::string& error : result.errors) {
        report.AddError(absl::StrCat("ingest ", name, ": ", error));
      }
      tally_rate[name] = Rate(result.acked, result.seconds);
      report.Add(std::move(row));
      aggregator->process.Stop(AggregatorStopGrace(config));
      RemoveDir(config, dir);
    }
  }
  if (!config.postgres) return;

  const auto pg_slices = TakeEvenly(workload, config.pg_protocols);
  auto prepared = PreparePgProtocols(workload, pg_slices);
  if (!prepared.ok()) {
    report.AddError(absl::StrCat("postgres: ", prepared.status().message()));
    return;
  }
  uint64_t pg_planned = 0;
  for (const auto& slice : *prepared) pg_planned += slice.size();
  auto pg = PgServer::Start(config.pg_bin_dir);
  if (!pg.ok()) {
    report.AddError(absl::StrCat("postgres: ", pg.status().message()));
    return;
  }
  absl::flat_hash_map<std::string, std::pair<double, std::string>> pg_best;
  for (const bool in_txn : {true, false}) {
    const std::string system =
        in_txn ? "postgres-totals-in-txn" : "postgres-totals-at-read";
    for (const uint32_t streams : config.streams) {
      for (const uint32_t batch : config.batches) {
        const std::string name = ConfigName(streams, batch);
        Progress(absl::StrCat("ingest ", system, " ", name, ": ", pg_planned,
                              " protocols"));
        PgOptions options;
        options.connections = streams;
        options.batch = batch;
        options.totals_in_transaction = in_txn;
        options.max_time = absl::Seconds(config.pg_max_seconds);
        PgResult result =
            RunPgLoad((*pg)->conninfo(), workload, *prepared, options);
        Row row{"ingest", system, {}};
        const double rate = Rate(result.committed, result.seconds);
        row.Set("streams", int64_t{streams})
            .Set("batch", int64_t{batch})
            .Set("protocols", static_cast<int64_t>(result.committed))
            .Set("accepted", static_cast<int64_t>(result.accepted))
            .Set("seconds", result.seconds)
            .Set("protocols_per_second", rate)
            .Set("ack_p50_ms", result.commit_latency.PercentileMs(50))
            .Set("ack_p99_ms", result.commit_latency.PercentileMs(99))
            .Set("retries", static_cast<int64_t>(result.retries))
            .Set("read_national_ms", result.read_national_ms)
            .Set("read_all_scopes_ms", result.read_all_scopes_ms)
            .Set("totals_match", result.totals_match)
            .Set("errors", static_cast<int64_t>(result.errors.size()));
        for (const std::string& error : result.errors) {
          report.AddError(absl::StrCat(system, " ", name, ": ", error));
        }
        report.Add(std::move(row));
        auto& best = pg_best[name];
        if (rate > best.first) best = {rate, system};
      }
    }
  }
  pg->reset();
  for (const uint32_t streams : config.streams) {
    for (const uint32_t batch : config.batches) {
      const std::string name = ConfigName(streams, batch);
      const auto& best = pg_best[name];
      Row row{"ingest_ratio", "tally/postgres", {}};
      row.Set("streams", int64_t{streams})
          .Set("batch", int64_t{batch})
          .Set("tally_per_second", tally_rate[name])
          .Set("postgres_best_per_second", best.first)
          .Set("postgres_best_variant", best.second)
          .Set("ratio", best.first > 0 ? tally_rate[name] / best.first : 0.0);
      report.Add(std::move(row));
    }
  }
}

namespace {

// Watches the aggregator with station updates and stamps the first time
// each (contest, station) appears.
class ArrivalWatcher {
 public:
  ArrivalWatcher(const std::string& address, const Workload& workload,
                 const absl::flat_hash_map<uint64_t, size_t>& index,
                 std::vector<std::atomic<int64_t>>& seen_micros)
      : index_(index), seen_(seen_micros) {
    for (size_t c = 0; c < workload.contest_ids.size(); ++c) {
      contests_[workload.contest_ids[c]] = static_cast<uint32_t>(c);
    }
    stub_ = v1::Feed::NewStub(OwnChannel(address));
    thread_ = std::thread([this] { Run(); });
  }
  ~ArrivalWatcher() { Stop(); }
  void Stop() {
    context_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }
  uint64_t seen() const { return count_.load(); }
  bool ready() const { return ready_.load(); }

 private:
  void Run() {
    v1::WatchRequest request;
    request.set_include_stations(true);
    auto reader = stub_->Watch(&context_, request);
    v1::WatchResponse response;
    while (reader->Read(&response)) {
      if (response.has_snapshot_complete()) ready_ = true;
      if (!response.has_event()) continue;
      const int64_t now = absl::ToUnixMicros(absl::Now());
      for (const v1::StationUpdate& update : response.event().stations()) {
        const auto contest = contests_.find(update.contest_id());
        if (contest == contests_.end()) continue;
        const auto it =
            index_.find(uint64_t{contest->second} << 32 | update.station_id());
        if (it == index_.end()) continue;
        int64_t expected = 0;
        if (seen_[it->second].compare_exchange_strong(expected, now)) {
          ++count_;
        }
      }
    }
    reader->Finish();
  }

  absl::flat_hash_map<std::string, uint32_t> contests_;
  const absl::flat_hash_map<uint64_t, size_t>& index_;
  std::vector<std::atomic<int64_t>>& seen_;
  std::unique_ptr<v1::Feed::Stub> stub_;
  grpc::ClientContext context_;
  std::thread thread_;
  std::atomic<uint64_t> count_{0};
  std::atomic<bool> ready_{false};
};

}  // namespace

void RunTwoHopScenario(const BenchConfig& config, const Workload& workload,
                       Report& report) {
  const uint32_t collectors =
      std::min<uint32_t>(config.twohop_collectors,
                         static_cast<uint32_t>(workload.region_ids.size()));
  // The first `collectors` regions, an equal share each.
  std::vector<std::vector<const EncodedProtocol*>> slices(collectors);
  std::vector<const EncodedProtocol*> all;
  for (uint32_t r = 0; r < collectors; ++r) {
    const auto& source = workload.by_region[r];
    const size_t take =
        std::min<size_t>(source.size(), config.twohop_protocols / collectors);
    for (size_t i = 0; i < take; ++i) slices[r].push_back(&source[i]);
    all.insert(all.end(), slices[r].begin(), slices[r].end());
  }
  absl::flat_hash_map<uint64_t, size_t> index;
  for (size_t i = 0; i < all.size(); ++i) {
    index[uint64_t{all[i]->contest} << 32 | all[i]->station_id] = i;
  }
  for (const uint32_t chunk : config.twohop_chunks) {
    const std::string name = absl::StrCat("c", collectors, "-chunk", chunk);
    Progress(absl::StrCat("two-hop ", name, ": ", all.size(), " protocols"));
    const std::string dir = FreshDir(config, "twohop-" + name);
    absl::StatusOr<Server> aggregator = StartAggregator(
        config, dir, workload.definition_path, "aggregator.log");
    if (!aggregator.ok()) {
      report.AddError(absl::StrCat("two-hop: ", aggregator.status().message()));
      continue;
    }
    std::vector<Server> collector_servers;
    bool started = true;
    for (uint32_t r = 0; r < collectors; ++r) {
      const std::string region = workload.region_ids[r];
      absl::StatusOr<Server> server = StartServer(
          {config.collector_bin, "--region=" + region,
           "--collector_id=collector-" + region,
           "--data_dir=" + dir + "/collector-" + region, "--listen=127.0.0.1:0",
           "--admin_listen=127.0.0.1:0", "--aggregator=" + aggregator->address,
           "--definition=" + workload.definition_path, "--insecure"},
          absl::StrCat(dir, "/collector-", region, ".log"), kStartTimeout,
          true);
      if (!server.ok()) {
        report.AddError(
            absl::StrCat("two-hop collector: ", server.status().message()));
        started = false;
        break;
      }
      collector_servers.push_back(*std::move(server));
    }
    if (!started) continue;

    std::vector<std::atomic<int64_t>> submitted(all.size());
    std::vector<std::atomic<int64_t>> seen(all.size());
    for (auto& s : submitted) s = 0;
    for (auto& s : seen) s = 0;
    ArrivalWatcher watcher(aggregator->address, workload, index, seen);
    while (!watcher.ready()) absl::SleepFor(absl::Milliseconds(5));

    const double cpu_before = ProcessCpuSeconds(aggregator->process.pid());
    std::vector<double> collector_cpu_before;
    for (Server& c : collector_servers) {
      collector_cpu_before.push_back(ProcessCpuSeconds(c.process.pid()));
    }
    const absl::Time start = absl::Now();
    const absl::Time stop_sending =
        start + absl::Seconds(config.twohop_max_seconds);
    std::atomic<uint64_t> sent{0}, accepted{0}, failed_calls{0};
    SharedLatencySamples client_ack;
    std::vector<std::thread> clients;
    std::vector<std::unique_ptr<std::atomic<size_t>>> next(collectors);
    size_t offset = 0;
    std::vector<size_t> base(collectors);
    for (uint32_t r = 0; r < collectors; ++r) {
      next[r] = std::make_unique<std::atomic<size_t>>(0);
      base[r] = offset;
      offset += slices[r].size();
    }
    for (uint32_t r = 0; r < collectors; ++r) {
      for (uint32_t k = 0; k < config.twohop_clients; ++k) {
        clients.emplace_back([&, r] {
          auto channel = OwnChannel(collector_servers[r].address);
          const auto& slice = slices[r];
          while (absl::Now() < stop_sending) {
            const size_t at = next[r]->fetch_add(chunk);
            if (at >= slice.size()) break;
            const size_t end = std::min(slice.size(), at + chunk);
            const absl::Time began = absl::Now();
            const int64_t began_micros = absl::ToUnixMicros(began);
            for (size_t i = at; i < end; ++i) {
              submitted[base[r] + i] = began_micros;
            }
            grpc::ClientContext context;
            context.set_deadline(
                absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
            bool ok = false;
            uint64_t accepted_here = 0;
            if (chunk == 1) {
              const grpc::internal::RpcMethod method(
                  "/tally.v1.Collector/Submit",
                  grpc::internal::RpcMethod::NORMAL_RPC);
              v1::SubmitResponse response;
              const grpc::Status status =
                  grpc::internal::BlockingUnaryCall<grpc::ByteBuffer,
                                                    v1::SubmitResponse>(
                      channel.get(), method, &context,
                      ToByteBuffer(EncodeSubmitRequest(*slice[at])), &response);
              ok = status.ok();
              accepted_here =
                  ok && response.result().outcome() == v1::OUTCOME_ACCEPTED;
            } else {
              const grpc::internal::RpcMethod method(
                  "/tally.v1.Collector/SubmitStream",
                  grpc::internal::RpcMethod::CLIENT_STREAMING);
              v1::SubmitStreamResponse response;
              std::unique_ptr<grpc::ClientWriter<grpc::ByteBuffer>> writer(
                  grpc::internal::ClientWriterFactory<grpc::ByteBuffer>::Create(
                      channel.get(), method, &context, &response));
              for (size_t i = at; i < end; ++i) {
                if (!writer->Write(
                        ToByteBuffer(EncodeSubmitRequest(*slice[i])))) {
                  break;
                }
              }
              writer->WritesDone();
              ok = writer->Finish().ok();
              accepted_here = ok ? response.accepted() : 0;
            }
            if (!ok) ++failed_calls;
            client_ack.Add(absl::ToInt64Microseconds(absl::Now() - began));
            sent += end - at;
            accepted += accepted_here;
          }
        });
      }
    }
    for (std::thread& t : clients) t.join();
    const double submit_seconds = absl::ToDoubleSeconds(absl::Now() - start);
    // Everything accepted must reach the watcher; wait for it.
    const absl::Time wait_until = absl::Now() + absl::Seconds(120);
    while (watcher.seen() < accepted.load() && absl::Now() < wait_until) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    watcher.Stop();
    LatencySamples collector_ack;
    client_ack.MergeInto(collector_ack);
    LatencySamples end_to_end;
    int64_t last_seen = 0;
    for (size_t i = 0; i < all.size(); ++i) {
      if (seen[i] == 0 || submitted[i] == 0) continue;
      end_to_end.Add(seen[i] - submitted[i]);
      last_seen = std::max<int64_t>(last_seen, seen[i]);
    }
    const double seconds =
        last_seen > 0
            ? static_cast<double>(last_seen - absl::ToUnixMicros(start)) / 1e6
            : 0;
    Row row{"two_hop", "tally", {}};
    row.Set("collectors", int64_t{collectors})
        .Set("clients_per_collector", int64_t{config.twohop_clients})
        .Set("chunk", int64_t{chunk})
        .Set("protocols", static_cast<int64_t>(sent.load()))
        .Set("accepted", static_cast<int64_t>(accepted.load()))
        .Set("seen_in_watch", static_cast<int64_t>(watcher.seen()))
        .Set("seconds", seconds)
        .Set("protocols_per_second", Rate(watcher.seen(), seconds))
        .Set("submit_seconds", submit_seconds)
        .Set("collector_ack_p50_ms", collector_ack.PercentileMs(50))
        .Set("collector_ack_p99_ms", collector_ack.PercentileMs(99))
        .Set("submit_to_watch_p50_ms", end_to_end.PercentileMs(50))
        .Set("submit_to_watch_p99_ms", end_to_end.PercentileMs(99))
        .Set("aggregator_cpu_seconds",
             ProcessCpuSeconds(aggregator->process.pid()) - cpu_before);
    double collector_cpu = 0;
    for (size_t c = 0; c < collector_servers.size(); ++c) {
      collector_cpu += ProcessCpuSeconds(collector_servers[c].process.pid()) -
                       collector_cpu_before[c];
    }
    row.Set("collectors_cpu_seconds", collector_cpu)
        .Set("failed_calls", static_cast<int64_t>(failed_calls.load()));
    report.Add(std::move(row));
    for (Server& c : collector_servers) c.process.Stop(absl::Seconds(30));
    aggregator->process.Stop(AggregatorStopGrace(config));
    RemoveDir(config, dir);
  }
}

namespace {

bool WaitHealthy(const std::string& admin, absl::Duration timeout) {
  const size_t colon = admin.rfind(':');
  httplib::Client client(admin.substr(0, colon),
                         std::stoi(admin.substr(colon + 1)));
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    auto response = client.Get("/healthz");
    if (response && response->status == 200) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

}  // namespace

void RunFeedScenario(const BenchConfig& config, const Workload& workload,
                     Report& report) {
  const uint64_t protocols =
      static_cast<uint64_t>(config.feed_rate * (config.feed_seconds + 5));
  const auto slices = TakeEvenly(workload, protocols);
  for (const bool via_relay : {false, true}) {
    for (const uint32_t watchers : config.watchers) {
      const std::string name =
          absl::StrCat(via_relay ? "relay" : "direct", "-w", watchers);
      Progress(absl::StrCat("feed ", name));
      const std::string dir = FreshDir(config, "feed-" + name);
      absl::StatusOr<Server> aggregator = StartAggregator(
          config, dir, workload.definition_path, "aggregator.log");
      if (!aggregator.ok()) {
        report.AddError(absl::StrCat("feed: ", aggregator.status().message()));
        continue;
      }
      absl::StatusOr<Server> relay = absl::UnavailableError("no relay");
      std::string feed_address = aggregator->address;
      if (via_relay) {
        relay =
            StartServer({config.relay_bin, "--upstream=" + aggregator->address,
                         "--listen=127.0.0.1:0", "--admin_listen=127.0.0.1:0",
                         "--insecure"},
                        dir + "/relay.log", kStartTimeout, true);
        if (!relay.ok() || !WaitHealthy(relay->admin, absl::Seconds(60))) {
          report.AddError(
              absl::StrCat("feed relay: ", relay.status().message()));
          continue;
        }
        feed_address = relay->address;
      }
      WatcherSwarm swarm(feed_address, watchers, config.watchers_per_connection,
                         false);
      const bool connected = swarm.WaitSnapshots(absl::Minutes(3));
      swarm.ResetSamples();
      const double agg_cpu_before =
          ProcessCpuSeconds(aggregator->process.pid());
      const double relay_cpu_before =
          via_relay ? ProcessCpuSeconds(relay->process.pid()) : 0;
      const double client_cpu_before = ProcessCpuSeconds(getpid());
      IngestOptions options;
      options.address = aggregator->address;
      options.streams = 4;
      options.batch = config.feed_batch;
      options.window = BatchesInFlight(config.window, options.batch);
      options.rate = config.feed_rate;
      options.max_time = absl::Seconds(config.feed_seconds);
      options.collector_prefix = "feed";
      IngestResult ingest = RunIngest(options, workload.region_ids, slices);
      // The last commits' events on their way.
      absl::SleepFor(absl::Milliseconds(500));
      const double agg_cpu =
          ProcessCpuSeconds(aggregator->process.pid()) - agg_cpu_before;
      const double relay_cpu =
          via_relay ? ProcessCpuSeconds(relay->process.pid()) - relay_cpu_before
                    : 0;
      const double client_cpu = ProcessCpuSeconds(getpid()) - client_cpu_before;
      const auto agg_metrics = ScrapeMetrics(aggregator->admin);
      const auto relay_metrics =
          via_relay ? ScrapeMetrics(relay->admin)
                    : absl::flat_hash_map<std::string, double>();
      WatcherStats stats = swarm.Finish();
      Row row{"feed", "tally", {}};
      row.Set("via", std::string(via_relay ? "relay" : "direct"))
          .Set("watchers", int64_t{watchers})
          .Set("connected", connected)
          .Set("held", stats.still_open == watchers && stats.failed == 0)
          .Set("still_open", static_cast<int64_t>(stats.still_open))
          .Set("connect_seconds", stats.connect_seconds)
          .Set("ingested", static_cast<int64_t>(ingest.acked))
          .Set("ingest_per_second", Rate(ingest.acked, ingest.seconds))
          .Set("events_per_watcher_per_second",
               watchers > 0 ? static_cast<double>(stats.events) / watchers /
                                  ingest.seconds
                            : 0.0)
          .Set("lag_p50_ms", stats.lag.PercentileMs(50))
          .Set("lag_p99_ms", stats.lag.PercentileMs(99))
          .Set("lag_max_ms", stats.lag.MaxMs())
          .Set("resyncs", static_cast<int64_t>(stats.resyncs))
          .Set("server_resyncs", static_cast<int64_t>(Metric(
                                     via_relay ? relay_metrics : agg_metrics,
                                     "tally_watch_resyncs_total")))
          .Set("aggregator_cpu_seconds", agg_cpu)
          .Set("relay_cpu_seconds", relay_cpu)
          .Set("watchers_cpu_seconds", client_cpu)
          .Set("mib_received",
               static_cast<double>(stats.bytes) / (1024.0 * 1024.0));
      report.Add(std::move(row));
      if (via_relay) relay->process.Stop(absl::Seconds(30));
      aggregator->process.Stop(AggregatorStopGrace(config));
      RemoveDir(config, dir);
    }
  }
}

void RunScaleScenario(const BenchConfig& config, Report& report) {
  for (const std::string& shape : config.scale_shapes) {
    const uint32_t stations =
        static_cast<uint32_t>(ShapeStations(shape) * config.scale_fraction);
    auto spec = ShapeSpec(shape, stations);
    if (!spec.ok()) {
      report.AddError(std::string(spec.status().message()));
      continue;
    }
    const std::string dir = FreshDir(config, "scale-" + shape);
    Progress(
        absl::StrCat("scale ", shape, ": generating ", stations, " stations"));
    absl::StatusOr<Workload> workload =
        BuildWorkload(*spec, dir + "/definition.json", 2024);
    if (!workload.ok()) {
      report.AddError(
          absl::StrCat("scale ", shape, ": ", workload.status().message()));
      continue;
    }
    Progress(absl::StrCat(
        "scale ", shape, ": ", workload->total, " protocols generated in ",
        absl::StrFormat("%.1f", workload->generate_seconds), " s"));
    const absl::Time first_start = absl::Now();
    absl::StatusOr<Server> aggregator = StartAggregator(
        config, dir, workload->definition_path, "aggregator-1.log");
    if (!aggregator.ok()) {
      report.AddError(
          absl::StrCat("scale ", shape, ": ", aggregator.status().message()));
      continue;
    }
    const double first_start_seconds =
        absl::ToDoubleSeconds(absl::Now() - first_start);
    const auto before = ScrapeMetrics(aggregator->admin);
    Progress(absl::StrCat("scale ", shape, ": ingesting"));
    IngestResult result =
        IngestWholeNight(config, aggregator->address, *workload, "scale");
    const auto after = ScrapeMetrics(aggregator->admin);
    Row row{"scale", "tally", {}};
    row.Set("shape", shape)
        .Set("stations", int64_t{workload->definition.stations_size()})
        .Set("contests", int64_t{workload->definition.contests_size()});
    AddIngestFigures(row, result);
    AddRoundFigures(row, before, after);
    row.Set("first_start_seconds", first_start_seconds)
        .Set("read_all_scopes_ms", TimeGetResults(aggregator->address))
        .Set("aggregator_peak_rss_mib",
             static_cast<double>(aggregator->process.PeakRssKib()) / 1024.0)
        .Set("errors", static_cast<int64_t>(result.errors.size()));
    for (const std::string& error : result.errors) {
      report.AddError(absl::StrCat("scale ", shape, ": ", error));
    }
    report.Add(std::move(row));
    workload->by_region.clear();
    workload->by_region.shrink_to_fit();

    // Recovery: a clean restart, then a restart after kill -9. Neither is
    // given the definition: it is read back from the store, as in
    // production.
    Progress(absl::StrCat("recovery ", shape));
    aggregator->process.Stop(absl::Minutes(2));
    Row recovery{"recovery", "tally", {}};
    recovery.Set("shape", shape)
        .Set("stored_protocols", static_cast<int64_t>(result.accepted))
        .Set("data_dir_mib", static_cast<double>(DirectoryBytes(dir + "/db")) /
                                 (1024.0 * 1024.0));
    for (const bool after_kill : {false, true}) {
      const absl::Time began = absl::Now();
      absl::StatusOr<Server> restarted =
          StartAggregator(config, dir, "",
                          after_kill ? "aggregator-3.log" : "aggregator-2.log");
      if (!restarted.ok()) {
        report.AddError(absl::StrCat("recovery ", shape, ": ",
                                     restarted.status().message()));
        break;
      }
      const double seconds = absl::ToDoubleSeconds(absl::Now() - began);
      recovery.Set(
          after_kill ? "restart_after_kill_seconds" : "restart_seconds",
          seconds);
      if (!after_kill) {
        restarted->process.Signal(SIGKILL);
        (void)restarted->process.Wait(absl::Minutes(1));
      } else {
        restarted->process.Stop(absl::Minutes(2));
      }
    }
    report.Add(std::move(recovery));
    RemoveDir(config, dir);
  }
}

void AddTargets(Report& report) {
  double batched = 0, unbatched = 0, two_hop = 0, pg_best = 0, pg_txn_best = 0;
  double lag_1000 = -1, lag_1000_relay = -1, restart_4m = -1;
  bool held_10000 = true, seen_10000 = false;
  // The log at >= 4 million leaves: the worst inclusion proof p99 (ms);
  // audit leaves/s at the largest night measured.
  double proof_p99_4m = -1, audit_rate = -1, audit_leaves = 0;
  double forensics_cost = -100;
  for (const Row& row : report.rows()) {
    const double rate = row.Number("protocols_per_second");
    if (row.scenario == "ingest" && row.system == "tally") {
      if (row.Number("batch") > 1) batched = std::max(batched, rate);
      if (row.Number("batch") == 1) unbatched = std::max(unbatched, rate);
    }
    if (row.scenario == "ingest" && row.system != "tally") {
      pg_best = std::max(pg_best, rate);
    }
    if (row.scenario == "ingest" && row.system == "postgres-totals-in-txn") {
      pg_txn_best = std::max(pg_txn_best, rate);
    }
    if (row.scenario == "two_hop") two_hop = std::max(two_hop, rate);
    if (row.scenario == "feed" && row.Number("watchers") == 1000) {
      const Value* via = row.Find("via");
      const bool relay =
          via != nullptr && std::get<std::string>(*via) == "relay";
      (relay ? lag_1000_relay : lag_1000) = row.Number("lag_p99_ms");
    }
    if (row.scenario == "feed" && row.Number("watchers") == 10000) {
      const Value* held = row.Find("held");
      seen_10000 = true;
      held_10000 = held_10000 && held != nullptr && std::get<bool>(*held);
    }
    if (row.scenario == "log" && row.Number("leaves") >= 4'000'000) {
      proof_p99_4m = std::max(proof_p99_4m, row.Number("inclusion_p99_ms"));
    }
    if (row.scenario == "log" && row.Number("leaves") > audit_leaves) {
      audit_leaves = row.Number("leaves");
      audit_rate = row.Number("audit_leaves_per_second");
    }
    if (row.scenario == "forensics") {
      forensics_cost = row.Number("throughput_cost_percent");
    }
    if (row.scenario == "recovery" &&
        row.Number("stored_protocols") >= 4'000'000) {
      restart_4m = std::max(restart_4m, row.Number("restart_seconds"));
    }
  }
  auto add = [&](const std::string& name, const std::string& want,
                 double measured, bool met, bool measured_at_all) {
    if (!measured_at_all) return;
    report.AddTarget({name, want, measured, met, ""});
  };
  add("ingest, batched streams (protocols/s)", ">= 250000", batched,
      batched >= 250000, batched > 0);
  add("ingest, unbatched (protocols/s)", ">= 50000", unbatched,
      unbatched >= 50000, unbatched > 0);
  add("two-hop (protocols/s)", ">= 100000", two_hop, two_hop >= 100000,
      two_hop > 0);
  add("tally / best PostgreSQL variant", ">= 20",
      pg_best > 0 ? batched / pg_best : 0,
      pg_best > 0 && batched / pg_best >= 20, pg_best > 0 && batched > 0);
  add("tally / PostgreSQL with totals in the txn", ">= 20",
      pg_txn_best > 0 ? batched / pg_txn_best : 0,
      pg_txn_best > 0 && batched / pg_txn_best >= 20,
      pg_txn_best > 0 && batched > 0);
  add("watcher lag p99, 1,000 direct (ms)", "< 50", lag_1000,
      lag_1000 >= 0 && lag_1000 < 50, lag_1000 >= 0);
  add("watcher lag p99, 1,000 via relay (ms)", "< 50", lag_1000_relay,
      lag_1000_relay >= 0 && lag_1000_relay < 50, lag_1000_relay >= 0);
  add("10,000 watchers held (1 = yes)", "= 1", held_10000 ? 1 : 0, held_10000,
      seen_10000);
  add("restart to serving, >= 4M protocols (s)", "< 2", restart_4m,
      restart_4m >= 0 && restart_4m < 2, restart_4m >= 0);
  add("inclusion proof p99, >= 4M leaves (ms)", "< 5", proof_p99_4m,
      proof_p99_4m >= 0 && proof_p99_4m < 5, proof_p99_4m >= 0);
  add("tallyctl audit, largest night (leaves/s)", ">= 200000", audit_rate,
      audit_rate >= 200000, audit_rate >= 0);
  add("ingest cost of the election forensics (%)", "<= 5", forensics_cost,
      forensics_cost <= 5, forensics_cost > -100);
}

}  // namespace tally::bench
