// Timed waits measured on the monotonic clock.
//
// absl::Mutex's timed waits (Abseil 20220623) turn a timeout into an
// absolute CLOCK_REALTIME deadline for the kernel, so a wall-clock step
// (NTP, a suspended VM, a skewed clock) stretches or shortens them by the
// step. Replication must keep renewing its lease and noticing its loss
// whatever the wall clock does, so its waits poll the condition in short
// relative sleeps against std::chrono::steady_clock instead. The cost is at
// most one slice of latency, which is small against lease TTLs of seconds.
#ifndef TALLY_SERVICES_ETCD_STEADY_WAIT_H_
#define TALLY_SERVICES_ETCD_STEADY_WAIT_H_

#include <algorithm>
#include <chrono>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tally::etcd {

// With `mu` held: waits until `condition` holds or `timeout` passes on the
// monotonic clock; returns whether it holds. `mu` is released while
// sleeping, in slices of at most `slice`.
inline bool SteadyAwait(absl::Mutex& mu, const absl::Condition& condition,
                        absl::Duration timeout,
                        absl::Duration slice = absl::Milliseconds(10))
    ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
  const auto deadline =
      std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(timeout);
  while (!condition.Eval()) {
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) return false;
    mu.Unlock();
    absl::SleepFor(std::min(slice, absl::FromChrono(left)));
    mu.Lock();
  }
  return true;
}

}  // namespace tally::etcd

#endif  // TALLY_SERVICES_ETCD_STEADY_WAIT_H_
