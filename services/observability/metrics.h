// Prometheus metrics for the servers, on prometheus-cpp (Debian's
// prometheus-cpp-dev; only its core library: the admin endpoint serves the
// text itself, see admin_server.h).
//
// MetricsRegistry is a small facade that keeps prometheus-cpp's exceptions
// inside this module (a clash of names is a programming error that must
// not take a server down: the metric handed out then is simply not
// exported) and adds series read by callbacks at scrape time, for values
// kept elsewhere (a store's outbox length, a hub's watcher count). Owners
// of what callbacks read must outlive scrapes; servers stop their admin
// endpoint first.
//
// The registry owns every metric it hands out and the pointers stay valid
// for its lifetime, so components keep raw pointers and update them on hot
// paths (counters and gauges are atomics; histograms take a short lock).
#ifndef TALLY_SERVICES_OBSERVABILITY_METRICS_H_
#define TALLY_SERVICES_OBSERVABILITY_METRICS_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/labels.h"
#include "prometheus/registry.h"

namespace tally::obs {

using Counter = prometheus::Counter;
using Gauge = prometheus::Gauge;
using Histogram = prometheus::Histogram;
// Label name -> value of one series.
using Labels = prometheus::Labels;

// `count` bounds start, start*factor, ... (as client_golang's
// ExponentialBuckets).
std::vector<double> ExponentialBuckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  MetricsRegistry();
  ~MetricsRegistry();
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Each name is one family of one type; its series differ by labels.
  // Asking again for the same name and labels returns the same metric.
  // Never null.
  Counter* AddCounter(absl::string_view name, absl::string_view help,
                      const Labels& labels = {});
  Gauge* AddGauge(absl::string_view name, absl::string_view help,
                  const Labels& labels = {});
  // `bounds` ascending; the +Inf bucket is implicit.
  Histogram* AddHistogram(absl::string_view name, absl::string_view help,
                          const std::vector<double>& bounds,
                          const Labels& labels = {});
  // Series whose value `read` returns at scrape time, on the scraping
  // thread (it must be thread-safe).
  void AddGaugeCallback(absl::string_view name, absl::string_view help,
                        std::function<double()> read,
                        const Labels& labels = {});
  void AddCounterCallback(absl::string_view name, absl::string_view help,
                          std::function<double()> read,
                          const Labels& labels = {});

  // Prometheus text format 0.0.4: families in name order, series in label
  // order, so that successive scrapes compare line by line.
  std::string Render() const;

 private:
  enum class Kind {
    kCounter,
    kGauge,
    kHistogram,
    kCallbackCounter,
    kCallbackGauge
  };
  struct Callback {
    Labels labels;
    std::function<double()> read;
  };
  struct CallbackFamily {
    bool counter = false;
    std::string help;
    std::vector<Callback> series;
  };
  // Whether `name` may be (or already is) of `kind`; records it if new.
  bool Claim(const std::string& name, Kind kind)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddCallback(absl::string_view name, absl::string_view help,
                   std::function<double()> read, const Labels& labels,
                   bool counter);

  const std::shared_ptr<prometheus::Registry> registry_;
  mutable absl::Mutex mu_;
  std::map<std::string, Kind> kinds_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, CallbackFamily> callbacks_ ABSL_GUARDED_BY(mu_);
  // Handed out on a clash: usable, never exported.
  std::vector<std::unique_ptr<Counter>> orphan_counters_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Gauge>> orphan_gauges_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Histogram>> orphan_histograms_
      ABSL_GUARDED_BY(mu_);
};

// Series every tally server exports: tally_build_info and the usual
// process_* (start time, CPU, resident memory, open file descriptors, read
// from /proc).
void AddProcessMetrics(MetricsRegistry& registry, absl::string_view service,
                       absl::string_view version);

}  // namespace tally::obs

#endif  // TALLY_SERVICES_OBSERVABILITY_METRICS_H_
