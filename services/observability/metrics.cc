#include "services/observability/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "prometheus/client_metric.h"
#include "prometheus/family.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace tally::obs {

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> bounds;
  double bound = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(bound);
    bound *= factor;
  }
  return bounds;
}

MetricsRegistry::MetricsRegistry()
    : registry_(std::make_shared<prometheus::Registry>()) {}

MetricsRegistry::~MetricsRegistry() = default;

bool MetricsRegistry::Claim(const std::string& name, Kind kind) {
  auto [it, added] = kinds_.emplace(name, kind);
  return added || it->second == kind;
}

Counter* MetricsRegistry::AddCounter(absl::string_view name,
                                     absl::string_view help,
                                     const Labels& labels) {
  absl::MutexLock lock(&mu_);
  const std::string key(name);
  if (Claim(key, Kind::kCounter)) {
    try {
      return &prometheus::BuildCounter()
                  .Name(key)
                  .Help(std::string(help))
                  .Register(*registry_)
                  .Add(labels);
    } catch (const std::exception&) {
      // An invalid name or label: fall through to an unexported metric.
    }
  }
  orphan_counters_.push_back(std::make_unique<Counter>());
  return orphan_counters_.back().get();
}

Gauge* MetricsRegistry::AddGauge(absl::string_view name, absl::string_view help,
                                 const Labels& labels) {
  absl::MutexLock lock(&mu_);
  const std::string key(name);
  if (Claim(key, Kind::kGauge)) {
    try {
      return &prometheus::BuildGauge()
                  .Name(key)
                  .Help(std::string(help))
                  .Register(*registry_)
                  .Add(labels);
    } catch (const std::exception&) {
    }
  }
  orphan_gauges_.push_back(std::make_unique<Gauge>());
  return orphan_gauges_.back().get();
}

Histogram* MetricsRegistry::AddHistogram(absl::string_view name,
                                         absl::string_view help,
                                         const std::vector<double>& bounds,
                                         const Labels& labels) {
  absl::MutexLock lock(&mu_);
  const std::string key(name);
  if (Claim(key, Kind::kHistogram)) {
    try {
      return &prometheus::BuildHistogram()
                  .Name(key)
                  .Help(std::string(help))
                  .Register(*registry_)
                  .Add(labels, bounds);
    } catch (const std::exception&) {
    }
  }
  orphan_histograms_.push_back(std::make_unique<Histogram>(bounds));
  return orphan_histograms_.back().get();
}

void MetricsRegistry::AddCallback(absl::string_view name,
                                  absl::string_view help,
                                  std::function<double()> read,
                                  const Labels& labels, bool counter) {
  absl::MutexLock lock(&mu_);
  const std::string key(name);
  if (!Claim(key, counter ? Kind::kCallbackCounter : Kind::kCallbackGauge)) {
    return;
  }
  CallbackFamily& family = callbacks_[key];
  family.counter = counter;
  if (family.help.empty()) family.help = std::string(help);
  for (Callback& series : family.series) {
    if (series.labels == labels) {
      series.read = std::move(read);
      return;
    }
  }
  family.series.push_back(Callback{labels, std::move(read)});
}

void MetricsRegistry::AddGaugeCallback(absl::string_view name,
                                       absl::string_view help,
                                       std::function<double()> read,
                                       const Labels& labels) {
  AddCallback(name, help, std::move(read), labels, /*counter=*/false);
}

void MetricsRegistry::AddCounterCallback(absl::string_view name,
                                         absl::string_view help,
                                         std::function<double()> read,
                                         const Labels& labels) {
  AddCallback(name, help, std::move(read), labels, /*counter=*/true);
}

std::string MetricsRegistry::Render() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, family] : callbacks_) {
      prometheus::MetricFamily out;
      out.name = name;
      out.help = family.help;
      out.type = family.counter ? prometheus::MetricType::Counter
                                : prometheus::MetricType::Gauge;
      for (const Callback& series : family.series) {
        prometheus::ClientMetric metric;
        for (const auto& [label, value] : series.labels) {
          metric.label.push_back({label, value});
        }
        const double value = series.read();
        if (family.counter) {
          metric.counter.value = value;
        } else {
          metric.gauge.value = value;
        }
        out.metric.push_back(std::move(metric));
      }
      families.push_back(std::move(out));
    }
  }
  std::sort(families.begin(), families.end(),
            [](const prometheus::MetricFamily& a,
               const prometheus::MetricFamily& b) { return a.name < b.name; });
  for (prometheus::MetricFamily& family : families) {
    std::sort(
        family.metric.begin(), family.metric.end(),
        [](const prometheus::ClientMetric& a,
           const prometheus::ClientMetric& b) { return a.label < b.label; });
  }
  try {
    return prometheus::TextSerializer().Serialize(families);
  } catch (const std::exception&) {
    return "";
  }
}

namespace {

double ResidentBytes() {
  // /proc/self/statm: size resident shared ... in pages.
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0;
  uint64_t resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return static_cast<double>(resident) *
         static_cast<double>(sysconf(_SC_PAGESIZE));
}

double OpenFds() {
  std::error_code error;
  size_t count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", error), end;
       !error && it != end; it.increment(error)) {
    ++count;
  }
  return static_cast<double>(count);
}

double CpuSeconds() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

}  // namespace

void AddProcessMetrics(MetricsRegistry& registry, absl::string_view service,
                       absl::string_view version) {
  registry
      .AddGauge("tally_build_info", "Constant 1, labelled with the build.",
                {{"service", std::string(service)},
                 {"version", std::string(version)}})
      ->Set(1);
  registry
      .AddGauge("process_start_time_seconds",
                "Start time of the process since the Unix epoch in seconds.")
      ->Set(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  registry.AddCounterCallback(
      "process_cpu_seconds_total",
      "Total user and system CPU time spent in seconds.", CpuSeconds);
  registry.AddGaugeCallback("process_resident_memory_bytes",
                            "Resident memory size in bytes.", ResidentBytes);
  registry.AddGaugeCallback("process_open_fds",
                            "Number of open file descriptors.", OpenFds);
}

}  // namespace tally::obs
