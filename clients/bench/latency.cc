#include "clients/bench/latency.h"

#include <algorithm>
#include <cmath>

namespace tally::bench {

void LatencySamples::Sort() {
  if (sorted_) return;
  std::sort(samples_.begin(), samples_.end());
  sorted_ = true;
}

double LatencySamples::PercentileMs(double percent) {
  if (samples_.empty()) return 0;
  Sort();
  size_t rank = static_cast<size_t>(
      std::ceil(percent / 100.0 * static_cast<double>(samples_.size())));
  rank = std::clamp<size_t>(rank, 1, samples_.size());
  return static_cast<double>(samples_[rank - 1]) / 1000.0;
}

double LatencySamples::MaxMs() {
  if (samples_.empty()) return 0;
  Sort();
  return static_cast<double>(samples_.back()) / 1000.0;
}

}  // namespace tally::bench
