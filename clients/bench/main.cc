// tally-bench: runs the real tally binaries on 127.0.0.1 and a PostgreSQL
// 15 peer, and prints what they achieve: JSON (--out) and a table.
//
//   tally-bench [--scenarios
//   ingest,two_hop,feed,scale,replication,log,forensics]
//               [--out FILE]
//
// Scenario sizes are flags; the defaults finish on a 2-core machine in
// well under half an hour. See docs/PERFORMANCE.md.
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "clients/bench/report.h"
#include "clients/bench/scenarios.h"
#include "clients/bench/workload.h"

ABSL_FLAG(std::string, scenarios,
          "ingest,two_hop,feed,scale,replication,log,forensics",
          "comma-separated: ingest (tally and PostgreSQL), two_hop, feed, "
          "scale (with recovery), replication (single node beside 3 "
          "replicas on etcd, and leader kills), log (the transparency "
          "log's proofs and audit), forensics (ingest with the election "
          "forensics off and on)");
ABSL_FLAG(uint32_t, replication_streams, 4,
          "replication: collector streams of the throughput comparison");
ABSL_FLAG(uint32_t, replication_batch, 256,
          "replication: protocols per batch of the throughput comparison");
ABSL_FLAG(int32_t, failover_kills, 10, "replication: leader kills");
ABSL_FLAG(double, failover_interval_seconds, 4,
          "replication: seconds between leader kills");
ABSL_FLAG(double, failover_rate, 3000,
          "replication: protocols/s ingested during the kills");
ABSL_FLAG(std::string, out, "", "write the JSON here (default: stdout only)");
ABSL_FLAG(std::string, work_dir, "",
          "scratch directory for data directories and logs (default: a new "
          "directory under $TMPDIR)");
ABSL_FLAG(bool, keep, false, "keep data directories and server logs");
ABSL_FLAG(std::string, bin_dir, TALLY_DEFAULT_BIN_DIR,
          "build directory holding services/*/tally-*");
ABSL_FLAG(std::string, pg_bin_dir, "/usr/lib/postgresql/15/bin",
          "PostgreSQL server binaries (initdb, postgres)");
ABSL_FLAG(std::string, aggregator_prefix, "",
          "words before the aggregator's command (space-separated absolute "
          "path first), e.g. \"/usr/bin/valgrind --tool=callgrind\" to "
          "profile it");
ABSL_FLAG(std::string, aggregator_flags, "",
          "extra aggregator flags, space-separated (e.g. "
          "\"--max_inflight_batches=64\")");
ABSL_FLAG(bool, postgres, true, "measure the PostgreSQL peer in ingest");
ABSL_FLAG(uint32_t, stations, 200000,
          "stations of the measurement election (2 protocols each)");
ABSL_FLAG(std::string, streams, "1,4,16", "ingest: collector streams");
ABSL_FLAG(std::string, batches, "1,16,256", "ingest: protocols per batch");
ABSL_FLAG(uint32_t, window, 1024,
          "ingest: unacknowledged protocols per stream (in window/batch "
          "batches, 1 to 64: the aggregator's --max_inflight_batches)");
ABSL_FLAG(uint64_t, ingest_protocols, 400000,
          "ingest: protocols per tally configuration");
ABSL_FLAG(double, ingest_max_seconds, 15,
          "ingest: stop starting batches after this long");
ABSL_FLAG(uint64_t, pg_protocols, 100000,
          "ingest: protocols per PostgreSQL configuration");
ABSL_FLAG(double, pg_max_seconds, 15,
          "ingest: PostgreSQL stops starting transactions after this long");
ABSL_FLAG(uint32_t, twohop_collectors, 8, "two_hop: collectors (regions)");
ABSL_FLAG(uint32_t, twohop_clients, 8,
          "two_hop: concurrent station clients per collector");
ABSL_FLAG(std::string, twohop_chunks, "1,100",
          "two_hop: protocols per client call (1: unary Submit; more: one "
          "SubmitStream each)");
ABSL_FLAG(uint64_t, twohop_protocols, 200000, "two_hop: protocols");
ABSL_FLAG(double, twohop_max_seconds, 20,
          "two_hop: stop submitting after this long");
ABSL_FLAG(std::string, watchers, "1000,10000", "feed: concurrent watchers");
ABSL_FLAG(uint32_t, watchers_per_connection, 100,
          "feed: watch streams per HTTP/2 connection");
ABSL_FLAG(double, feed_rate, 2000,
          "feed: protocols/s ingested while watchers follow");
ABSL_FLAG(uint32_t, feed_batch, 100, "feed: protocols per ingest batch");
ABSL_FLAG(double, feed_seconds, 15, "feed: seconds of ingest per run");
ABSL_FLAG(std::string, scale_shapes, "india,indonesia",
          "scale: synthetic national elections to ingest and restart");
ABSL_FLAG(std::string, log_shapes, "reference,indonesia",
          "log: nights whose log is measured (reference: the embedded 2023 "
          "election; indonesia, india, bench: as scale)");
ABSL_FLAG(double, log_fraction, 1.0,
          "log: fraction of the synthetic shapes' stations");
ABSL_FLAG(uint32_t, forensics_rounds, 3,
          "forensics: rounds of ingests with --forensics=false and =true");
ABSL_FLAG(uint32_t, log_proofs, 1000,
          "log: inclusion proofs timed, and as many consistency proofs");
ABSL_FLAG(double, scale_fraction, 1.0,
          "scale: fraction of the real station counts");

namespace {

std::vector<uint32_t> Numbers(const std::string& text) {
  std::vector<uint32_t> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    uint32_t n = 0;
    if (absl::SimpleAtoi(part, &n) && n > 0) out.push_back(n);
  }
  return out;
}

std::string FirstLine(const std::string& path, const std::string& prefix) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(prefix, 0) == 0) {
      const size_t colon = line.find(':');
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

// The block device under `path` and whether it is rotational.
std::string DiskOf(const std::string& path) {
  std::ifstream mounts("/proc/mounts");
  std::string device, mount, best_device, best_mount, rest;
  const std::string real = std::filesystem::weakly_canonical(path).string();
  while (mounts >> device >> mount) {
    std::getline(mounts, rest);
    if (real.rfind(mount, 0) == 0 && mount.size() >= best_mount.size()) {
      best_mount = mount;
      best_device = device;
    }
  }
  const std::string name = std::filesystem::path(best_device).filename();
  std::ifstream rotational("/sys/block/" + name + "/queue/rotational");
  std::string rot;
  rotational >> rot;
  return absl::StrCat(best_device, " on ", best_mount,
                      rot == "0"   ? " (non-rotational)"
                      : rot == "1" ? " (rotational)"
                                   : "");
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "tally-bench [--scenarios "
      "ingest,two_hop,feed,scale,replication,log,forensics] "
      "[--out FILE]");
  absl::ParseCommandLine(argc, argv);
  using tally::bench::BenchConfig;
  BenchConfig config;
  config.work_dir = absl::GetFlag(FLAGS_work_dir);
  if (config.work_dir.empty()) {
    const char* tmp = getenv("TMPDIR");
    config.work_dir =
        absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/tally-bench-", getpid());
  }
  std::filesystem::create_directories(config.work_dir);
  const std::string bin = absl::GetFlag(FLAGS_bin_dir);
  config.aggregator_bin = bin + "/services/aggregator/tally-aggregator";
  config.collector_bin = bin + "/services/collector/tally-collector";
  config.relay_bin = bin + "/services/relay/tally-relay";
  config.tallyctl_bin = bin + "/clients/tallyctl/tallyctl";
  config.pg_bin_dir = absl::GetFlag(FLAGS_pg_bin_dir);
  config.keep = absl::GetFlag(FLAGS_keep);
  config.aggregator_flags = absl::StrSplit(
      absl::GetFlag(FLAGS_aggregator_flags), ' ', absl::SkipEmpty());
  config.aggregator_prefix = absl::StrSplit(
      absl::GetFlag(FLAGS_aggregator_prefix), ' ', absl::SkipEmpty());
  config.postgres = absl::GetFlag(FLAGS_postgres);
  config.streams = Numbers(absl::GetFlag(FLAGS_streams));
  config.batches = Numbers(absl::GetFlag(FLAGS_batches));
  config.window = absl::GetFlag(FLAGS_window);
  config.ingest_protocols = absl::GetFlag(FLAGS_ingest_protocols);
  config.ingest_max_seconds = absl::GetFlag(FLAGS_ingest_max_seconds);
  config.pg_protocols = absl::GetFlag(FLAGS_pg_protocols);
  config.pg_max_seconds = absl::GetFlag(FLAGS_pg_max_seconds);
  config.twohop_collectors = absl::GetFlag(FLAGS_twohop_collectors);
  config.twohop_clients = absl::GetFlag(FLAGS_twohop_clients);
  config.twohop_chunks = Numbers(absl::GetFlag(FLAGS_twohop_chunks));
  config.twohop_protocols = absl::GetFlag(FLAGS_twohop_protocols);
  config.twohop_max_seconds = absl::GetFlag(FLAGS_twohop_max_seconds);
  config.watchers = Numbers(absl::GetFlag(FLAGS_watchers));
  config.watchers_per_connection = absl::GetFlag(FLAGS_watchers_per_connection);
  config.feed_rate = absl::GetFlag(FLAGS_feed_rate);
  config.feed_batch = absl::GetFlag(FLAGS_feed_batch);
  config.feed_seconds = absl::GetFlag(FLAGS_feed_seconds);
  config.scale_shapes =
      absl::StrSplit(absl::GetFlag(FLAGS_scale_shapes), ',', absl::SkipEmpty());
  config.scale_fraction = absl::GetFlag(FLAGS_scale_fraction);
  config.log_shapes =
      absl::StrSplit(absl::GetFlag(FLAGS_log_shapes), ',', absl::SkipEmpty());
  config.log_fraction = absl::GetFlag(FLAGS_log_fraction);
  config.log_proofs = absl::GetFlag(FLAGS_log_proofs);
  config.forensics_rounds = absl::GetFlag(FLAGS_forensics_rounds);
  config.replication_streams = absl::GetFlag(FLAGS_replication_streams);
  config.replication_batch = absl::GetFlag(FLAGS_replication_batch);
  config.failover_kills = absl::GetFlag(FLAGS_failover_kills);
  config.failover_interval_seconds =
      absl::GetFlag(FLAGS_failover_interval_seconds);
  config.failover_rate = absl::GetFlag(FLAGS_failover_rate);
  for (const std::string& binary : {config.aggregator_bin, config.collector_bin,
                                    config.relay_bin, config.tallyctl_bin}) {
    if (access(binary.c_str(), X_OK) != 0) {
      fprintf(stderr, "tally-bench: %s is missing (build it, or --bin_dir)\n",
              binary.c_str());
      return 2;
    }
  }
  std::vector<std::string> scenarios =
      absl::StrSplit(absl::GetFlag(FLAGS_scenarios), ',', absl::SkipEmpty());
  auto wants = [&](const std::string& name) {
    return std::find(scenarios.begin(), scenarios.end(), name) !=
           scenarios.end();
  };

  tally::bench::Report report;
  utsname uts{};
  uname(&uts);
  report.SetMachine({
      {"cpus", static_cast<int64_t>(sysconf(_SC_NPROCESSORS_ONLN))},
      {"cpu_model", FirstLine("/proc/cpuinfo", "model name")},
      {"memory", FirstLine("/proc/meminfo", "MemTotal")},
      {"kernel", std::string(uts.release)},
      {"disk", DiskOf(config.work_dir)},
      {"started_utc", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(),
                                       absl::UTCTimeZone())},
      {"scenarios", absl::GetFlag(FLAGS_scenarios)},
  });

  if (wants("ingest") || wants("two_hop") || wants("feed") ||
      wants("replication") || wants("forensics")) {
    auto spec = tally::bench::ShapeSpec("bench", absl::GetFlag(FLAGS_stations));
    if (!spec.ok()) {
      fprintf(stderr, "tally-bench: %s\n",
              std::string(spec.status().message()).c_str());
      return 2;
    }
    fprintf(stderr, "[bench] generating the measurement election\n");
    auto workload = tally::bench::BuildWorkload(
        *spec, config.work_dir + "/bench-definition.json", 2024);
    if (!workload.ok()) {
      fprintf(stderr, "tally-bench: %s\n",
              std::string(workload.status().message()).c_str());
      return 1;
    }
    fprintf(stderr, "[bench] %llu protocols in %.1f s\n",
            static_cast<unsigned long long>(workload->total),
            workload->generate_seconds);
    if (wants("ingest")) RunIngestScenario(config, *workload, report);
    if (wants("two_hop")) RunTwoHopScenario(config, *workload, report);
    if (wants("feed")) RunFeedScenario(config, *workload, report);
    if (wants("replication")) {
      RunReplicationScenario(config, *workload, report);
    }
    if (wants("forensics")) RunForensicsScenario(config, *workload, report);
  }
  if (wants("scale")) RunScaleScenario(config, report);
  if (wants("log")) RunLogScenario(config, report);
  tally::bench::AddTargets(report);

  const std::string json = report.Json();
  const std::string out = absl::GetFlag(FLAGS_out);
  if (!out.empty()) {
    std::ofstream file(out, std::ios::trunc);
    file << json;
  } else {
    fputs(json.c_str(), stdout);
  }
  fputs(report.Table().c_str(), stderr);
  if (!config.keep) std::filesystem::remove_all(config.work_dir);
  return report.errors().empty() ? 0 : 1;
}
