// Latency samples and their percentiles. Every sample is kept (a run has
// at most a few million), so percentiles are exact, not bucketed.
#ifndef TALLY_CLIENTS_BENCH_LATENCY_H_
#define TALLY_CLIENTS_BENCH_LATENCY_H_

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace tally::bench {

class LatencySamples {
 public:
  void Add(int64_t micros) { samples_.push_back(micros); }
  void Merge(const LatencySamples& other) {
    samples_.insert(samples_.end(), other.samples_.begin(),
                    other.samples_.end());
  }
  size_t count() const { return samples_.size(); }
  // Percentile in milliseconds (nearest rank); 0 when empty.
  double PercentileMs(double percent);
  double MaxMs();

 private:
  void Sort();
  std::vector<int64_t> samples_;
  bool sorted_ = false;
};

// The same for samples added from many threads.
class SharedLatencySamples {
 public:
  void Add(int64_t micros) {
    absl::MutexLock lock(&mu_);
    samples_.Add(micros);
  }
  void MergeInto(LatencySamples& out) {
    absl::MutexLock lock(&mu_);
    out.Merge(samples_);
  }

 private:
  absl::Mutex mu_;
  LatencySamples samples_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tally::bench

#endif  // TALLY_CLIENTS_BENCH_LATENCY_H_
