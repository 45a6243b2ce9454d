// tally-bench --scenarios forensics: what the election forensics cost the
// ingest path. The same protocols (the ingest scenario's, at its last
// streams x batch configuration) are ingested by a fresh aggregator with
// --forensics=false and with --forensics=true, alternating over
// --forensics_rounds rounds so that the machine's drift hits both alike.
// One row per run, then a "forensics" summary row with the median rates and
// the cost in percent (issue target: at most 5%).
#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "clients/bench/ingest_load.h"
#include "clients/bench/metrics_scrape.h"
#include "clients/bench/scenarios.h"

namespace tally::bench {
namespace {

double Median(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid]
                                : (values[mid - 1] + values[mid]) / 2;
}

}  // namespace

void RunForensicsScenario(const BenchConfig& config, const Workload& workload,
                          Report& report) {
  const auto slices = TakeEvenly(workload, config.ingest_protocols);
  const uint32_t streams = config.streams.back();
  const uint32_t batch = config.batches.back();
  std::vector<double> rate[2];
  std::vector<double> cpu_us[2];
  for (uint32_t round = 0;
       round < std::max<uint32_t>(config.forensics_rounds, 1); ++round) {
    for (const bool on : {false, true}) {
      const std::string name =
          absl::StrCat("forensics-", on ? "on" : "off", "-", round + 1);
      Progress(absl::StrCat(name, ": ingesting"));
      BenchConfig with = config;
      with.aggregator_flags.push_back(on ? "--forensics=true"
                                         : "--forensics=false");
      const std::string dir = FreshDir(config, name);
      absl::StatusOr<Server> aggregator = StartAggregator(
          with, dir, workload.definition_path, "aggregator.log");
      if (!aggregator.ok()) {
        report.AddError(
            absl::StrCat(name, ": ", aggregator.status().message()));
        continue;
      }
      const double cpu_before = ProcessCpuSeconds(aggregator->process.pid());
      IngestOptions options =
          IngestRunOptions(config, aggregator->address, streams, batch);
      options.collector_prefix = "forensics";
      IngestResult result = RunIngest(options, workload.region_ids, slices);
      const double cpu =
          ProcessCpuSeconds(aggregator->process.pid()) - cpu_before;
      Row row{"forensics_run", "tally", {}};
      row.Set("forensics", std::string(on ? "on" : "off"))
          .Set("round", int64_t{round + 1})
          .Set("streams", int64_t{streams})
          .Set("batch", int64_t{batch});
      AddIngestFigures(row, result);
      const double us =
          result.acked > 0 ? cpu * 1e6 / static_cast<double>(result.acked) : 0;
      row.Set("server_cpu_us_per_protocol", us)
          .Set("errors", static_cast<int64_t>(result.errors.size()));
      for (const std::string& error : result.errors) {
        report.AddError(absl::StrCat(name, ": ", error));
      }
      if (result.errors.empty()) {
        rate[on].push_back(Rate(result.acked, result.seconds));
        cpu_us[on].push_back(us);
      }
      report.Add(std::move(row));
      aggregator->process.Stop(AggregatorStopGrace(config));
      RemoveDir(config, dir);
    }
  }
  if (rate[0].empty() || rate[1].empty()) return;
  const double off = Median(rate[0]);
  const double on = Median(rate[1]);
  Row row{"forensics", "tally", {}};
  row.Set("rounds", static_cast<int64_t>(rate[1].size()))
      .Set("protocols_per_second_off", off)
      .Set("protocols_per_second_on", on)
      .Set("throughput_cost_percent", off > 0 ? (off - on) / off * 100 : 0.0)
      .Set("server_cpu_us_per_protocol_off", Median(cpu_us[0]))
      .Set("server_cpu_us_per_protocol_on", Median(cpu_us[1]));
  report.Add(std::move(row));
}

}  // namespace tally::bench
